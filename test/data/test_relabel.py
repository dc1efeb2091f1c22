# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy relabel``: the new outcome is what convert reads; bad paths are named."""
from cosmos_policy_ros.cli import main
from cosmos_policy_ros.data.bag_labels import OUTCOME_FAILURE, OUTCOME_SUCCESS, PREVIOUS_KEY, read_label
from cosmos_policy_ros.data.converter import ConvertConfig, convert_bags
from cosmos_policy_ros.data.synthetic_bag import SyntheticEpisode, write_synthetic_episode
from cosmos_policy_ros.presets import load_preset


def test_relabel_changes_what_convert_reads(tmp_path, capsys):
    preset = load_preset("sim_arm")
    bag = write_synthetic_episode(tmp_path / "ep0", preset,
                                  SyntheticEpisode(duration_s=1.0, outcome=OUTCOME_SUCCESS))
    assert main(["relabel", str(bag), "failure"]) == 0  # the bag's END event says success
    assert read_label(bag) == OUTCOME_FAILURE and "unlabelled -> failure" in capsys.readouterr().out
    (episode,) = convert_bags([bag], tmp_path / "set", preset, ConvertConfig(image_size=16)).episodes
    assert episode.outcome == "failure"
    assert main(["relabel", str(bag), "success"]) == 0
    assert read_label(bag) == OUTCOME_SUCCESS and f"{PREVIOUS_KEY}: '2'" in (bag / "metadata.yaml").read_text()
    assert main(["relabel", str(tmp_path / "missing"), "success"]) == 1
    assert "missing: no metadata.yaml" in capsys.readouterr().err
