#!/usr/bin/env python3
"""Keeps the drawing true: `make test` runs this.

1. ARCHITECTURE.md's "Dependencies" block (one line per crate: `crate: dep, dep`) must be
   exactly the workspace crates each crate depends on (`[dependencies]`, from
   `cargo metadata`), no more, no fewer.
2. No crate declares a dependency that its sources never name: each dependency
   (normal, build and dev) must appear as `name::`, `use name`, `extern crate name` or
   `name!` in the files that kind of dependency serves (src/ and build.rs for normal
   ones, build.rs for build ones, src/, tests/, benches/ and examples/ for dev ones).
   A dependency used only for its link (a `-sys` crate) or its features is listed in
   ALLOWED with the reason.
3. One path to every item: no library crate re-exports another crate's items
   (`pub use other_crate::...`); a user imports an item from the crate that defines it.

Exit 1 with every difference listed; exit 0 and one line otherwise.
"""

import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Dependencies that no source names, and why they are there.
ALLOWED = {
    ("harness", "tikv-jemallocator"): "the global allocator (named in main.rs)",
}

BLOCK_START = "<!-- dependencies:begin -->"
BLOCK_END = "<!-- dependencies:end -->"


def metadata():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
    return json.loads(out.stdout)


def drawn():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    if BLOCK_START not in text or BLOCK_END not in text:
        sys.exit(f"ARCHITECTURE.md: no {BLOCK_START} ... {BLOCK_END} block")
    block = text.split(BLOCK_START, 1)[1].split(BLOCK_END, 1)[0]
    edges = {}
    for line in block.splitlines():
        line = line.strip()
        if not line or line.startswith("```"):
            continue
        name, _, deps = line.partition(":")
        edges[name.strip()] = {d.strip() for d in deps.split(",") if d.strip()}
    return edges


def sources(crate_dir, kinds):
    files = []
    for kind in kinds:
        if kind == "build.rs":
            if (crate_dir / "build.rs").is_file():
                files.append(crate_dir / "build.rs")
            continue
        folder = crate_dir / kind
        if folder.is_dir():
            files.extend(folder.rglob("*.rs"))
    return "\n".join(f.read_text(errors="replace") for f in files)


def used(text, dep):
    ident = re.escape(dep.replace("-", "_"))
    return re.search(rf"(?<![\w:])(?:(?:::)?{ident}::|use\s+(?:::)?{ident}\b|extern\s+crate\s+{ident}\b|{ident}!)", text) is not None


def main():
    meta = metadata()
    workspace = {p["name"] for p in meta["packages"]}
    problems = []
    real = {}
    for p in meta["packages"]:
        real[p["name"]] = {
            d["name"] for d in p["dependencies"] if d["kind"] is None and d["name"] in workspace
        }
    edges = drawn()
    for name in sorted(workspace | set(edges)):
        want, have = edges.get(name), real.get(name)
        if want is None:
            problems.append(f"ARCHITECTURE.md: crate `{name}` is missing from the dependencies block")
        elif have is None:
            problems.append(f"ARCHITECTURE.md: `{name}` is not a crate of the workspace")
        else:
            for d in sorted(have - want):
                problems.append(f"ARCHITECTURE.md: `{name}` depends on `{d}` (Cargo.toml) but the drawing omits it")
            for d in sorted(want - have):
                problems.append(f"ARCHITECTURE.md: the drawing has `{name}` -> `{d}`, which Cargo.toml does not")
    for p in meta["packages"]:
        crate_dir = pathlib.Path(p["manifest_path"]).parent
        texts = {
            None: sources(crate_dir, ["src", "build.rs"]),
            "build": sources(crate_dir, ["build.rs"]),
            "dev": sources(crate_dir, ["src", "tests", "benches", "examples"]),
        }
        for d in p["dependencies"]:
            dep, kind = d["name"], d["kind"]
            if (p["name"], dep) in ALLOWED:
                continue
            if not used(texts[kind], dep):
                where = {None: "[dependencies]", "build": "[build-dependencies]", "dev": "[dev-dependencies]"}[kind]
                problems.append(f"{p['name']}: {where} `{dep}` is named by none of its sources (remove it)")
    for p in meta["packages"]:
        crate_dir = pathlib.Path(p["manifest_path"]).parent
        if not any("lib" in t["kind"] for t in p["targets"]):
            continue
        deps = {d["name"].replace("-", "_") for d in p["dependencies"] if d["kind"] is None}
        for f in sorted((crate_dir / "src").rglob("*.rs")):
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                m = re.match(r"\s*pub(?:\([^)]*\))?\s+use\s+(?:::)?(\w+)", line)
                if m and m.group(1) in deps and "pub(crate)" not in line:
                    rel = f.relative_to(ROOT)
                    problems.append(f"{rel}:{n}: re-exports `{m.group(1)}` (import it from `{m.group(1)}` instead)")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"architecture: the drawing matches cargo metadata for {len(workspace)} crates; no unused dependency; no re-export of another crate")


if __name__ == "__main__":
    main()
