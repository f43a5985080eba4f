#!/usr/bin/env python3
"""Writes the FRU image of the simulated BMC (FRU Information Storage Definition v1.0).

Prints the `mc_add_fru_data` line for bmc.emu and writes fixtures/fru.bin, the same bytes,
which the decoder's unit tests read. Run it again after changing the fields below and paste
its line into bmc.emu.
"""
import datetime
import os


def field(text):
    data = text.encode("latin-1")
    assert len(data) < 64
    return bytes([0xC0 | len(data)]) + data


def area(body):
    # version, length in multiples of 8 (filled below), body, end marker, pad, checksum
    raw = bytearray([0x01, 0x00]) + body + bytes([0xC1])
    while (len(raw) + 1) % 8:
        raw.append(0)
    raw[1] = (len(raw) + 1) // 8
    raw.append((-sum(raw)) & 0xFF)
    return bytes(raw)


chassis = area(bytes([0x17]) + field("CHS-1000") + field("CH123456"))
minutes = int(
    (datetime.datetime(2024, 6, 15, 12, 0) - datetime.datetime(1996, 1, 1)).total_seconds() // 60
)
board = area(
    bytes([0x19])  # language: English
    + minutes.to_bytes(3, "little")
    + field("Acme Servers")
    + field("X11-Board")
    + field("BRD98765")
    + field("BP-2000")
    + field("")
)
product = area(
    bytes([0x19])
    + field("Acme Servers")
    + field("Igor Test Server")
    + field("ITS-1")
    + field("1.0")
    + field("PRD-0001")
    + field("ASSET42")
    + field("")
    + field("rack 4 slot 12")
)
offset = 1  # in multiples of 8: the header is 8 bytes
offsets = []
for a in (chassis, board, product):
    offsets.append(offset)
    offset += len(a) // 8
header = bytearray([0x01, 0x00, offsets[0], offsets[1], offsets[2], 0x00, 0x00])
header.append((-sum(header)) & 0xFF)
image = bytes(header) + chassis + board + product

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "fixtures", "fru.bin"), "wb") as f:
    f.write(image)
data = " \\\n".join("\t" + " ".join(f"0x{b:02x}" for b in image[i : i + 16]) for i in range(0, len(image), 16))
print(f"mc_add_fru_data 0x20 0 {len(image)} data \\\n{data}")
