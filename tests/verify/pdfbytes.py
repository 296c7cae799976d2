"""Byte-level PDF surgery for the attack generator (tests/verify).

Everything here works on `bytes` and on classic cross-reference tables (the base files of
tests/verify are all written with classic tables: reportlab, hand-written, qz, pyHanko
updates of those). pyHanko is used only to *read* objects that get rewritten and to
serialise them again.

Main pieces:
  parse_xref(data)            -> XrefChain (sections newest first, offsets per object)
  trailer(data)               -> the newest trailer's /Size /Root /Info /ID /Prev
  signatures(data)            -> every /ByteRange-bearing dictionary: object number, offset,
                                 ByteRange, gap, CMS DER, text positions
  Update(data) ... .bytes()   -> append one classic incremental update (new objects,
                                 redirected xref entries, freed objects, trailer changes)
  obj_body(data, num)         -> raw bytes of an object's body (between "obj" and "endobj")
  ser(pyhanko_object)         -> PDF serialisation of a pyHanko generic object
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- xref


@dataclass
class XrefSection:
    offset: int                      # where "xref" starts
    entries: dict[int, tuple[int, int, str]]  # num -> (offset or next-free, gen, 'n'|'f')
    trailer: bytes                   # raw "<< ... >>" text
    end: int                         # offset just past the trailer's %%EOF (or the trailer)


@dataclass
class XrefChain:
    sections: list[XrefSection]      # newest first

    def offset(self, num: int) -> int | None:
        """Offset of object `num` as the newest section defines it (None if free/absent)."""
        for s in self.sections:
            if num in s.entries:
                off, _gen, kind = s.entries[num]
                return off if kind == "n" else None
        return None

    def revision_of(self, num: int) -> int | None:
        """0-based revision (oldest = 0) whose section last defines `num`."""
        n = len(self.sections)
        for i, s in enumerate(self.sections):
            if num in s.entries:
                return n - 1 - i
        return None


_TRAILER_RE = re.compile(rb"trailer\s*(<<.*?>>)\s*startxref", re.S)


def last_startxref(data: bytes) -> int:
    m = list(re.finditer(rb"startxref\s+(\d+)\s+%%EOF", data))
    if not m:
        raise ValueError("no startxref")
    return int(m[-1].group(1))


def _parse_section(data: bytes, pos: int) -> XrefSection:
    if data[pos:pos + 4] != b"xref":
        raise ValueError(f"no classic xref table at {pos} (xref streams are not supported here)")
    i = pos + 4
    entries: dict[int, tuple[int, int, str]] = {}
    sub = re.compile(rb"\s*(\d+)\s+(\d+)[ \t]*\r?\n")
    ent = re.compile(rb"(\d{10}) (\d{5}) ([nf])")
    while True:
        m = sub.match(data, i)
        if not m:
            break
        start, count = int(m.group(1)), int(m.group(2))
        i = m.end()
        for k in range(count):
            while data[i:i + 1] in (b" ", b"\r", b"\n"):
                i += 1
            e = ent.match(data, i)
            if not e:
                raise ValueError(f"bad xref entry at {i}")
            entries[start + k] = (int(e.group(1)), int(e.group(2)), e.group(3).decode())
            i = e.end()
    m = _TRAILER_RE.search(data, i)
    if not m:
        raise ValueError("no trailer after xref")
    eof = data.find(b"%%EOF", m.end())
    return XrefSection(pos, entries, m.group(1), (eof + 5) if eof >= 0 else m.end())


def parse_xref(data: bytes) -> XrefChain:
    pos = last_startxref(data)
    sections = []
    seen = set()
    while pos is not None and pos not in seen:
        seen.add(pos)
        s = _parse_section(data, pos)
        sections.append(s)
        m = re.search(rb"/Prev\s+(\d+)", s.trailer)
        pos = int(m.group(1)) if m else None
    return XrefChain(sections)


@dataclass
class Trailer:
    size: int
    root: tuple[int, int]
    info: tuple[int, int] | None
    ids: tuple[bytes, bytes] | None     # hex digits
    raw: bytes


def trailer(data: bytes) -> Trailer:
    s = parse_xref(data).sections[0]
    t = s.trailer

    def ref(key):
        m = re.search(rb"/" + key + rb"\s+(\d+)\s+(\d+)\s+R", t)
        return (int(m.group(1)), int(m.group(2))) if m else None

    m = re.search(rb"/ID\s*\[\s*<([0-9A-Fa-f]*)>\s*<([0-9A-Fa-f]*)>\s*\]", t)
    return Trailer(size=int(re.search(rb"/Size\s+(\d+)", t).group(1)), root=ref(b"Root"),
                   info=ref(b"Info"), ids=(m.group(1), m.group(2)) if m else None, raw=t)


# --------------------------------------------------------------------------- objects

def obj_span(data: bytes, offset: int) -> tuple[int, int, int]:
    """(start of body, end of body, end of 'endobj') for the object starting at offset."""
    m = re.compile(rb"(\d+)\s+(\d+)\s+obj\b").match(data, offset)
    if not m:
        raise ValueError(f"no object header at {offset}: {data[offset:offset + 20]!r}")
    body = m.end()
    # streams: honour /Length when it is a direct number
    head_end = data.find(b"stream", body)
    end = data.find(b"endobj", body)
    if 0 <= head_end < end:
        lm = re.search(rb"/Length\s+(\d+)(?!\s+\d+\s+R)", data[body:head_end])
        if lm:
            s = head_end + 6
            if data[s:s + 2] == b"\r\n":
                s += 2
            elif data[s:s + 1] in (b"\n", b"\r"):
                s += 1
            end = data.find(b"endobj", s + int(lm.group(1)))
    if end < 0:
        raise ValueError(f"no endobj after {offset}")
    return body, end, end + 6


def obj_body(data: bytes, num: int, chain: XrefChain | None = None) -> bytes:
    chain = chain or parse_xref(data)
    off = chain.offset(num)
    if off is None:
        raise KeyError(f"object {num} not in use")
    b, e, _ = obj_span(data, off)
    return data[b:e].strip()


def ser(obj) -> bytes:
    """Serialise a pyHanko generic object (indirect references stay references)."""
    buf = io.BytesIO()
    obj.write_to_stream(buf, None)
    return buf.getvalue()


def stream_obj(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def pdf_string(s: str) -> bytes:
    """A PDF text string: literal for ASCII, UTF-16BE hex otherwise."""
    try:
        b = s.encode("ascii")
        return b"(" + b.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"
    except UnicodeEncodeError:
        return b"<feff" + s.encode("utf-16-be").hex().encode() + b">"


# --------------------------------------------------------------------------- signatures

@dataclass
class SigInfo:
    num: int                  # object number of the signature dictionary
    obj_offset: int           # offset of "N 0 obj"
    obj_end: int              # offset just past "endobj"
    byte_range: list[int]
    br_span: tuple[int, int]  # positions of the "[ ... ]" text of /ByteRange
    gap: tuple[int, int]      # (b, c): the /Contents hex string "<...>" as the ByteRange says
    cms: bytes                # DER (trailing zero padding removed)
    revision: int | None      # 0-based revision whose xref section defines the dictionary
    text: bytes = field(repr=False, default=b"")  # raw dictionary text

    @property
    def signed_end(self) -> int:
        a, b, c, d = self.byte_range
        return c + d


def der_length(der: bytes) -> int:
    """Length of the DER TLV at the start of `der` (to drop the zero padding)."""
    if len(der) < 2:
        return len(der)
    ln = der[1]
    if ln < 0x80:
        return 2 + ln
    n = ln & 0x7F
    return 2 + n + int.from_bytes(der[2:2 + n], "big")


def signatures(data: bytes) -> list[SigInfo]:
    """Every signature dictionary that the newest xref reaches and that holds a /ByteRange."""
    chain = parse_xref(data)
    out = []
    live = {}
    for s in reversed(chain.sections):
        for num, (off, _g, kind) in s.entries.items():
            live[num] = off if kind == "n" else None
    for num, off in sorted(live.items()):
        if off is None or num == 0:
            continue
        try:
            b, e, end = obj_span(data, off)
        except ValueError:
            continue
        text = data[b:e]
        m = re.search(rb"/ByteRange\s*(\[[^\]]*\])", text)
        if not m or b"/Contents" not in text:
            continue
        nums = [int(x) for x in re.findall(rb"-?\d+", m.group(1))]
        if len(nums) != 4:
            continue
        gb, gc = nums[1], nums[2]
        hexpart = data[gb + 1:gc - 1]
        try:
            der = bytes.fromhex(hexpart.decode())
        except ValueError:
            der = b""
        der = der[:der_length(der)] if der else der
        out.append(SigInfo(num, off, end, nums, (b + m.start(1), b + m.end(1)), (gb, gc), der,
                           chain.revision_of(num), text))
    return sorted(out, key=lambda s: s.byte_range[2])


def set_byte_range_text(data: bytes, sig: SigInfo, values, *, raw: bytes | None = None) -> bytes:
    """Rewrite /ByteRange [ ... ] in place, padded with spaces to the same length.
    Raises if it does not fit."""
    s, e = sig.br_span
    new = raw if raw is not None else b"[" + b" ".join(str(v).encode() for v in values) + b"]"
    room = e - s
    # the original text is often followed by padding spaces (pyHanko, qz): use them
    j = e
    while j < len(data) and data[j:j + 1] == b" ":
        j += 1
    room_total = j - s
    if len(new) > room_total:
        raise ValueError(f"ByteRange text {new!r} does not fit in {room_total} bytes")
    if len(new) <= room:
        return data[:s] + new + b" " * (room - len(new)) + data[e:]
    return data[:s] + new + b" " * (room_total - len(new)) + data[j:]


def fill_gap(data: bytes, sig: SigInfo, inner: bytes) -> bytes:
    """Replace the bytes of the gap [b, c) with `inner`, padded (with '0' inside a hex string
    if inner starts with '<' and ends before the closing '>', else spaces)."""
    b, c = sig.gap
    size = c - b
    if len(inner) > size:
        raise ValueError(f"gap content {len(inner)} bytes > gap {size}")
    return data[:b] + inner + b" " * (size - len(inner)) + data[c:]


def hex_contents(der: bytes, size: int) -> bytes:
    """'<HEX000...>' exactly `size` bytes long."""
    h = der.hex().upper().encode()
    if len(h) + 2 > size:
        raise ValueError(f"CMS of {len(der)} bytes does not fit a gap of {size}")
    return b"<" + h + b"0" * (size - 2 - len(h)) + b">"


# --------------------------------------------------------------------------- updates

class Update:
    """One classic incremental update appended to `data`.

    add(num, body)       write "num 0 obj body endobj" and list it in the xref
    new(body) -> num     the same with a fresh object number
    redirect(num, off)   xref entry for num pointing at an existing offset (no object written)
    free(num)            xref entry marking num as free
    trailer_set(k, v)    override a trailer key (bytes value, e.g. b"9 0 R")
    """

    def __init__(self, data: bytes):
        self.base = data if data.endswith((b"\n", b"\r")) else data + b"\n"
        self.t = trailer(data)
        self.prev = last_startxref(data)
        self.next_num = self.t.size
        self.objs: dict[int, bytes] = {}
        self.redirects: dict[int, int] = {}
        self.freed: list[int] = []
        self.trailer_over: dict[bytes, bytes | None] = {}

    def add(self, num: int, body: bytes) -> int:
        self.objs[num] = body
        return num

    def new(self, body: bytes) -> int:
        num = self.next_num
        self.next_num += 1
        return self.add(num, body)

    def redirect(self, num: int, offset: int) -> None:
        self.redirects[num] = offset

    def free(self, num: int) -> None:
        self.freed.append(num)

    def trailer_set(self, key: bytes, value: bytes | None) -> None:
        self.trailer_over[key] = value

    def bytes(self, *, xref: bool = True, bogus_offsets: int = 0) -> bytes:
        buf = bytearray(self.base)
        entries: dict[int, bytes] = {}
        for num, body in sorted(self.objs.items()):
            off = len(buf)
            buf += b"%d 0 obj\n" % num + body + b"\nendobj\n"
            entries[num] = b"%010d 00000 n \n" % (off + bogus_offsets)
        for num, off in self.redirects.items():
            entries[num] = b"%010d 00000 n \n" % off
        if self.freed:
            chain = sorted(self.freed)
            entries[0] = b"%010d 65535 f \n" % chain[0]
            for i, num in enumerate(chain):
                nxt = chain[i + 1] if i + 1 < len(chain) else 0
                entries[num] = b"%010d 00001 f \n" % nxt
        if not xref:
            return bytes(buf)
        xref_pos = len(buf)
        buf += b"xref\n"
        if not entries:  # a section needs at least one subsection
            entries[0] = b"0000000000 65535 f \n"
        nums = sorted(entries)
        i = 0
        while i < len(nums):
            j = i
            while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
                j += 1
            buf += b"%d %d\n" % (nums[i], j - i + 1)
            for k in range(i, j + 1):
                buf += entries[nums[k]]
            i = j + 1
        size = max([self.t.size, self.next_num] + [n + 1 for n in nums])
        tr = {b"Size": b"%d" % size, b"Root": b"%d %d R" % self.t.root}
        if self.t.info:
            tr[b"Info"] = b"%d %d R" % self.t.info
        if self.t.ids:
            tr[b"ID"] = b"[<%s><%s>]" % self.t.ids
        tr[b"Prev"] = b"%d" % self.prev
        for k, v in self.trailer_over.items():
            if v is None:
                tr.pop(k, None)
            else:
                tr[k] = v
        buf += b"trailer\n<<" + b"".join(b"/%s %s " % (k, v) for k, v in tr.items()) + b">>\n"
        buf += b"startxref\n%d\n%%%%EOF\n" % (xref_pos + bogus_offsets)
        return bytes(buf)


# --------------------------------------------------------------------------- whole files

def build_pdf(objs: dict[int, bytes], root: int, info: int | None = None,
              shadows: list[tuple[int, bytes]] = (), version: bytes = b"1.7",
              file_id: bytes = b"5157414e5a48414e47534841444f5721") -> tuple[bytes, dict]:
    """A one-revision PDF with a classic xref. `shadows` are extra object bodies written
    (with their given object numbers) after the real ones but NOT listed in the xref: shadow
    copies that an attacker's later xref entry can point at. Returns (bytes, offsets) where
    offsets maps num -> offset and ('shadow', num) -> offset of the shadow copy."""
    buf = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict = {}
    for num in sorted(objs):
        offsets[num] = len(buf)
        buf += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    for num, body in shadows:
        offsets[("shadow", num)] = len(buf)
        buf += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    size = max(objs) + 1
    xref = len(buf)
    buf += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        buf += (b"%010d 00000 n \n" % offsets[num]) if num in offsets else b"0000000000 00001 f \n"
    buf += b"trailer\n<< /Size %d /Root %d 0 R " % (size, root)
    if info:
        buf += b"/Info %d 0 R " % info
    buf += b"/ID [<%s><%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (file_id, file_id, xref)
    return bytes(buf), offsets
