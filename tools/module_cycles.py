#!/usr/bin/env python3
"""Lists import cycles between the modules of a crate's src/ (issue #10: no module imports
another that imports it back). A `use` of `a::b::Item` counts as an import of the module
`a::b` whose file holds (or re-exports) `Item`. Exits 1 when there is a cycle.

    python3 tools/module_cycles.py nn/src autograd/src
"""
import re
import sys
from pathlib import Path


def modules(src: Path):
    mods = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("mod", "lib"):
            parts = parts[:-1]
        mods[tuple(parts)] = f
    return mods


def uses(text: str):
    # `use` statements (possibly multi-line, nested braces), flattened to paths.
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        yield from expand(m.group(1).replace("\n", " ").replace(" ", ""))


def expand(tree: str, prefix: str = ""):
    if "{" not in tree:
        for p in split_top(tree):
            yield prefix + p
        return
    i = tree.index("{")
    head, inner = tree[:i], tree[i + 1 : matching(tree, i)]
    for part in split_top(inner):
        yield from expand(part, prefix + head)


def matching(s, i):
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return j
    return len(s)


def split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    if cur:
        out.append(cur)
    return [o for o in out if o]


def resolve(path: str, here: tuple, mods: dict):
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = here
        while segs and segs[0] in ("super", "self"):
            base = base[:-1] if segs[0] == "super" else base
            segs = segs[1:]
    else:
        return None  # another crate or std
    target = base
    for s in segs:
        if target + (s,) in mods:
            target = target + (s,)
        else:
            break
    return target


def main():
    cycles = 0
    for src in map(Path, sys.argv[1:]):
        mods = modules(src)
        edges = {m: set() for m in mods}
        for m, f in mods.items():
            for p in uses(f.read_text()):
                t = resolve(p.split(" as ")[0], m, mods)
                if t is not None and t != m and t in mods:
                    edges[m].add(t)
        # Tarjan's strongly connected components.
        index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

        def visit(v):
            index[v] = low[v] = n[0]
            n[0] += 1
            stack.append(v)
            on.add(v)
            for w in edges[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)

        for v in mods:
            if v not in index:
                visit(v)
        for comp in out:
            cycles += 1
            names = ", ".join("::".join(c) or "(crate root)" for c in sorted(comp))
            print(f"{src}: import cycle among {names}")
        print(f"{src}: {len(mods)} modules, {sum(map(len, edges.values()))} imports, {len(out)} cycles")
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
