#!/usr/bin/env python3
"""Lines of code per crate and per file, as issues #22 and #36 count them.

Blank lines, comment lines (//, //!, ///) and `#[cfg(test)]` items (a test module or
function, up to its closing brace) are not counted, nor files that are test modules
declared as `#[cfg(test)] mod name;` (their `name.rs` or `name/mod.rs`). Usage:
    scripts/loc.py            # one line per crate
    scripts/loc.py --files N  # also the N largest files
"""
import pathlib
import sys


def count(path: pathlib.Path) -> int:
    n = 0
    skip_depth = None  # brace depth at which a cfg(test) item ends
    depth = 0
    pending_test = False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if skip_depth is None and line.startswith("#[cfg(test)]"):
            pending_test = True
            continue
        opens, closes = line.count("{"), line.count("}")
        if pending_test and skip_depth is None and opens:
            skip_depth = depth
            pending_test = False
        depth += opens - closes
        if skip_depth is not None:
            if depth <= skip_depth:
                skip_depth = None
            continue
        if pending_test and line.endswith(";"):
            pending_test = False  # `#[cfg(test)] mod tests;` or a use line
            continue
        if not line or line.startswith("//"):
            continue
        n += 1
    return n


def test_module_files(path: pathlib.Path) -> set:
    """The files of the modules `path` declares as `#[cfg(test)] mod name;`."""
    found = set()
    pending = False
    # A module file's children live beside it (lib.rs, main.rs, mod.rs) or in its folder.
    base = path.parent if path.name in ("lib.rs", "main.rs", "mod.rs") else path.with_suffix("")
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#[cfg(test)]"):
            pending = True
            continue
        if pending:
            pending = False
            words = line.rstrip(";").split()
            if line.endswith(";") and len(words) >= 2 and words[-2] == "mod":
                name = words[-1]
                found |= {base / f"{name}.rs", base / name / "mod.rs"}
    return found


def main() -> None:
    root = pathlib.Path(__file__).resolve().parent.parent / "crates"
    all_files = sorted(root.glob("*/src/**/*.rs"))
    tests = set()
    for f in all_files:
        tests |= test_module_files(f)
    files = {}
    for f in all_files:
        if f not in tests:
            files[f] = count(f)
    crates = {}
    for f, n in files.items():
        crate = f.relative_to(root).parts[0]
        crates[crate] = crates.get(crate, 0) + n
    for crate, n in sorted(crates.items(), key=lambda kv: -kv[1]):
        print(f"{n:6} {crate}")
    print(f"{sum(crates.values()):6} total")
    if "--files" in sys.argv:
        k = int(sys.argv[sys.argv.index("--files") + 1])
        print()
        for f, n in sorted(files.items(), key=lambda kv: -kv[1])[:k]:
            print(f"{n:6} {f.relative_to(root)}")


if __name__ == "__main__":
    main()
