"""Where a process's resident memory lives, from /proc/<pid>/smaps: by mapping, sorted into components.

Used by bench/bench_daemon.py (`memory by component`). Native memory is attributed by mapping:

- libraries: file-backed mappings (code, data, relocations), grouped by who brings them: onnxruntime,
  OpenCV (with its bundled ffmpeg), Python (interpreter and extension modules), numpy/scipy (with OpenBLAS);
- malloc heaps: glibc's main arena (`[heap]`, brk) and its other arenas (anonymous 64 MiB-aligned heaps,
  `HEAP_MAX_SIZE` on 64-bit, reserved whole and committed from the start);
- thread stacks: an anonymous writable mapping right above a one-page inaccessible guard (how glibc's
  pthread_create lays a stack out), counted with how many there are;
- other anonymous: blocks malloc hands out by mmap (above its mmap threshold: decoded frames, onnxruntime's
  arena chunks, numpy buffers) and Python's own obmalloc arenas.

Resident set (Rss) is what the kernel keeps in RAM for the process; the sum of the components is the process's
RSS (VmRSS), give or take pages that change between the two reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HEAP_MAX = 64 * 2**20  # glibc's HEAP_MAX_SIZE on 64-bit: every non-main arena is one such aligned block
HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")
LIBRARIES = (  # (component, substrings of the mapped file's path), first match wins
    ("onnxruntime", ("onnxruntime",)),
    ("opencv+ffmpeg", ("cv2", "opencv", "libav", "libswscale", "libswresample", "libvpx", "libx26", "libdav1d")),
    ("numpy/scipy/openblas", ("numpy", "scipy", "openblas", "gfortran", "libquadmath")),
    ("python", ("python", ".cpython-", "site-packages", "lib-dynload")),
)
COMPONENTS = (
    "onnxruntime (code)",
    "opencv+ffmpeg (code)",
    "numpy/scipy/openblas (code)",
    "python (code + modules)",
    "other libraries",
    "malloc main arena",
    "malloc other arenas",
    "thread stacks",
    "other anonymous (mmap)",
)


@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    path: str
    rss_kb: int = 0


@dataclass
class MemoryMap:
    kb: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 0))
    arenas: int = 0  # 64 MiB heaps of glibc's non-main arenas (an arena may hold more than one)
    stacks: int = 0

    @property
    def total_mb(self) -> float:
        return sum(self.kb.values()) / 1024

    def mb(self, component: str) -> float:
        return self.kb[component] / 1024


def read_mappings(pid: int | str = "self") -> list[Mapping]:
    mappings: list[Mapping] = []
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        header = HEADER.match(line)
        if header:
            start, end, perms, path = header.groups()
            mappings.append(Mapping(int(start, 16), int(end, 16), perms, path.strip()))
        elif line.startswith("Rss:") and mappings:
            mappings[-1].rss_kb = int(line.split()[1])
    return mappings


def classify(mappings: list[Mapping]) -> MemoryMap:
    memory = MemoryMap()
    arena_blocks = _arena_blocks(mappings)
    for index, mapping in enumerate(mappings):
        memory.kb[_component(mapping, index, mappings, arena_blocks, memory)] += mapping.rss_kb
    memory.arenas = len(arena_blocks)
    return memory


def _component(mapping: Mapping, index: int, mappings: list[Mapping], arena_blocks: set[int], memory) -> str:
    path = mapping.path
    if path == "[heap]":
        return "malloc main arena"
    if path.startswith("/"):
        for component, hints in LIBRARIES:
            if any(hint in path for hint in hints):
                return next(c for c in COMPONENTS if c.startswith(component))
        return "other libraries"
    if path.startswith("["):  # [stack], [vdso], [vvar], [anon:...]
        return "thread stacks" if path == "[stack]" else "other anonymous (mmap)"
    if mapping.start - mapping.start % HEAP_MAX in arena_blocks:
        return "malloc other arenas"
    below = mappings[index - 1] if index else None
    guarded = below is not None and below.end == mapping.start and below.perms.startswith("---")
    if guarded and mapping.perms.startswith("rw"):
        memory.stacks += 1
        return "thread stacks"
    return "other anonymous (mmap)"


def _arena_blocks(mappings: list[Mapping]) -> set[int]:
    """Starts of the 64 MiB-aligned blocks that glibc arenas occupy: an anonymous writable mapping at the
    block's start, the block covered (writable part, then the reserved inaccessible rest) and nothing else."""
    blocks: dict[int, list[Mapping]] = {}
    for mapping in mappings:
        if not mapping.path:
            blocks.setdefault(mapping.start - mapping.start % HEAP_MAX, []).append(mapping)
    found = set()
    for start, parts in blocks.items():
        parts.sort(key=lambda m: m.start)
        first, last = parts[0], parts[-1]
        contiguous = all(a.end == b.start for a, b in zip(parts, parts[1:]))
        whole = last.end == start + HEAP_MAX or (last.perms.startswith("---") and last.end > start + HEAP_MAX)
        if first.start == start and first.perms.startswith("rw") and contiguous and whole:
            found.add(start)
    return found


def table(rows: list[tuple[str, MemoryMap]]) -> str:
    """Components (MB resident) as rows, one column per labelled map."""
    width = max(12, *(len(label) for label, _ in rows))
    lines = [f"{'component':<30}" + "".join(f" {label:>{width}}" for label, _ in rows)]
    for component in COMPONENTS:
        lines.append(f"{component:<30}" + "".join(f" {memory.mb(component):>{width}.1f}" for _, memory in rows))
    lines.append(f"{'total (smaps Rss)':<30}" + "".join(f" {memory.total_mb:>{width}.1f}" for _, memory in rows))
    lines.append(
        f"{'  64 MiB heaps of other arenas':<30}" + "".join(f" {memory.arenas:>{width}d}" for _, memory in rows)
    )
    lines.append(f"{'  thread stacks':<30}" + "".join(f" {memory.stacks:>{width}d}" for _, memory in rows))
    return "\n".join(lines)
