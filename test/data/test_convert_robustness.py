# SPDX-License-Identifier: Apache-2.0
"""``cosmos-policy convert`` never drops data silently: a broken bag is named and the others
convert; a run where nothing converts fails and leaves the previous set as it was."""
from cosmos_policy_ros.cli import main
from cosmos_policy_ros.data.synthetic_bag import SyntheticEpisode, write_synthetic_episode
from cosmos_policy_ros.data.training_set import read_index
from cosmos_policy_ros.presets import load_preset


def test_a_broken_bag_is_named_and_never_aborts_the_rest(tmp_path, capsys):
    preset = load_preset("sim_arm")
    for i in range(2):
        write_synthetic_episode(tmp_path / "bags" / f"ep{i}", preset,
                                SyntheticEpisode(duration_s=1.0))
    broken = tmp_path / "bags" / "ep_broken"
    broken.mkdir()
    (broken / "ep_broken_0.mcap").write_bytes(b"\x89MCAP0\r\nnot really a bag")
    assert main(["convert", str(tmp_path / "bags"), str(tmp_path / "set"), "--image-size", "16"]) == 0
    out = capsys.readouterr().out
    assert f"{broken}: skipped: unreadable bag" in out
    assert "2 episode(s) converted, 1 skipped" in out
    index = read_index(tmp_path / "set")
    assert [e["episode_id"] for e in index["episodes"]] == ["ep0", "ep1"]

    before = (tmp_path / "set/index.json").read_bytes()
    assert main(["convert", str(broken), str(tmp_path / "set"), "--image-size", "16"]) == 1
    captured = capsys.readouterr()
    assert "no episode converted" in captured.err and "left as it was" in captured.err
    assert (tmp_path / "set/index.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bags", "set"]  # no temporary folder left
