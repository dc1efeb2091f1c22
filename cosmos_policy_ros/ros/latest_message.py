# SPDX-License-Identifier: Apache-2.0
"""A sensor message kept serialized until a decision reads it (raw subscriptions).

Cameras publish 30 frames/s each (ALOHA: three 640x480 rgb8, ~80 MB/s) and a decision reads one
frame per camera. With ``create_subscription(..., raw=True)`` rclpy hands the callback the CDR bytes
and skips building a Python message (about 0.6 ms per 640x480 frame here); this module keeps
those bytes with the header stamp read straight from them, so the observation's age and skew
checks (``serving.observation``) need no message, and ``deserialize()`` builds the one message a
decision uses, whose ``data`` the conversions then view with ``np.frombuffer`` (no further copy).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from rclpy.serialization import deserialize_message

from cosmos_policy_ros import stamps
from cosmos_policy_ros.ros.conversions import stamp_to_seconds

# Encapsulation identifiers (OMG DDS-XTypes 1.3, 7.6.3.1.2) with the stamp right after the 4-byte
# encapsulation header: plain CDR and final-type XCDR2, big (even) or little (odd) endian.
PLAIN_ENCAPSULATIONS = {0x00: ">", 0x01: "<", 0x06: ">", 0x07: "<"}
ENCAPSULATION_BYTES = 4
STAMP = struct.Struct("iI")  # builtin_interfaces/Time: int32 sec, uint32 nanosec


def cdr_header_stamp_s(data: bytes, msg_type: type) -> float:
    """``header.stamp`` [s] of a serialized message whose first field is a std_msgs/Header.

    Read from the bytes for plain encapsulations; deserialized otherwise (same answer, slower).
    Raises ValueError for bytes that hold no such message.
    """
    order = PLAIN_ENCAPSULATIONS.get(data[1]) if len(data) >= ENCAPSULATION_BYTES + STAMP.size else None
    if order is not None and data[0] == 0:
        sec, nanosec = struct.unpack_from(order + STAMP.format, data, ENCAPSULATION_BYTES)
        return stamps.to_seconds(sec, nanosec)
    try:
        stamp = deserialize_message(data, msg_type).header.stamp
    except RuntimeError as error:  # rclpy's RMWError for malformed CDR
        raise ValueError(f"{len(data)} bytes are not a serialized {msg_type.__name__}: {error}") from error
    return stamp_to_seconds(stamp)


@dataclass(frozen=True)
class SerializedMessage:
    """The CDR bytes of one message, its type and header stamp [s] (``from_bytes`` reads it)."""

    data: bytes
    msg_type: type
    stamp_s: float

    @classmethod
    def from_bytes(cls, data: bytes, msg_type: type) -> "SerializedMessage":
        """Wrap what a raw subscription delivered; ValueError if it has no readable header."""
        return cls(data, msg_type, cdr_header_stamp_s(data, msg_type))

    def deserialize(self) -> Any:
        """The message itself (built now, once per decision)."""
        try:
            return deserialize_message(self.data, self.msg_type)
        except RuntimeError as error:  # malformed CDR: the caller reports it as a failed input
            raise ValueError(f"could not deserialize {self.msg_type.__name__}: {error}") from error
