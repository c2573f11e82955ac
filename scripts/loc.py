#!/usr/bin/env python3
"""Lines of code per crate and per file, as issues #22 and #36 count them.

Blank lines, comment lines (//, //!, ///) and `#[cfg(test)]` items (a test module or
function, up to its closing brace) are not counted, nor files that are test modules
declared as `#[cfg(test)] mod name;` (their `name.rs` or `name/mod.rs`). Usage:
    scripts/loc.py            # one line per crate
    scripts/loc.py --files N  # also the N largest files
    scripts/loc.py --functions N  # also every function longer than N lines (fn line to
                                  # its closing brace, comments included)
    scripts/loc.py --check    # exit 1 unless the redesign's measures hold (make test runs it):
                              # the binary <= 1,200 code lines, no file over 600, no
                              # function in `experiment` over 100 lines
"""
import pathlib
import re
import sys

BINARY_MAX = 1200
FILE_MAX = 600
EXPERIMENT_FUNCTION_MAX = 100


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


def functions(path: pathlib.Path):
    """(line, name, length) of each `fn` with a body in `path`: from its `fn` line to the
    line that closes it at the same indentation."""
    lines = path.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+(\w+)", line)
        if not m or line.rstrip().endswith(";"):
            continue
        indent = m.group(1)
        end = i
        for j in range(i + 1, len(lines)):
            if lines[j].startswith(indent + "}") and lines[j].strip() in ("}", "};"):
                end = j
                break
        out.append((i + 1, m.group(2), end - i + 1))
    return out


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
    if "--functions" in sys.argv:
        k = int(sys.argv[sys.argv.index("--functions") + 1])
        print()
        long = [(n, f, line, name) for f in files for line, name, n in functions(f) if n > k]
        for n, f, line, name in sorted(long, key=lambda x: -x[0]):
            print(f"{n:6} {f.relative_to(root)}:{line} {name}")
    if "--check" in sys.argv:
        problems = []
        if crates.get("harness", 0) > BINARY_MAX:
            problems.append(f"the binary (harness) has {crates['harness']} code lines, over {BINARY_MAX}")
        for f, n in files.items():
            if n > FILE_MAX:
                problems.append(f"{f.relative_to(root)}: {n} code lines, over {FILE_MAX}")
        for f in files:
            if f.relative_to(root).parts[0] != "experiment":
                continue
            for line, name, n in functions(f):
                if n > EXPERIMENT_FUNCTION_MAX:
                    problems.append(f"{f.relative_to(root)}:{line}: fn {name} has {n} lines, over {EXPERIMENT_FUNCTION_MAX}")
        if problems:
            print("\n".join(problems))
            sys.exit(1)
        print(f"loc: harness {crates.get('harness', 0)} <= {BINARY_MAX} code lines, no file over {FILE_MAX}, no experiment function over {EXPERIMENT_FUNCTION_MAX} lines")


if __name__ == "__main__":
    main()
