"""pyarrow.csv against polars for ``survey estimate``'s reader (docs/estimation.md, "Reading the
CSV"): read the 5 used columns of the 200,000-row file of ``whole_process.py`` as text, strip
them and factorise them, each in a fresh process (imports included).

    .venv/bin/python benchmarks/csv_readers.py [--runs 3]

polars is not a dependency of the platform: install it into a scratch venv to compare
(``pip install polars==2.1.0``); without it the polars rows are skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
USED = ["stratum", "street", "weight", "fpc", "score"]

PROBE = """
import sys, time
t0 = time.perf_counter()
lib, path, used = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
if lib == "pyarrow":
    import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pacsv
    t1 = time.perf_counter()
    header = open(path, encoding="utf-8").readline().strip().split(",")
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()), include_columns=used))
    t2 = time.perf_counter()
    for name in used:
        enc = pc.dictionary_encode(pc.utf8_trim_whitespace(table[name].combine_chunks()))
        codes, texts = enc.indices.to_numpy(zero_copy_only=False), enc.dictionary.to_pylist()
else:
    import polars as pl
    t1 = time.perf_counter()
    frame = pl.read_csv(path, infer_schema=False, columns=used)
    t2 = time.perf_counter()
    for name in used:
        values = frame[name].str.strip_chars()
        texts = values.unique(maintain_order=True)
        codes = values.cast(pl.Enum(texts)).to_physical().to_numpy()
t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f} {t3 - t0:.3f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from whole_process import write_csv

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "survey-200k.csv"
        write_csv(data)
        print("| library | import | read | strip + factorise | total |\n|---|---:|---:|---:|---:|")
        for lib in ("pyarrow", "polars"):
            if importlib.util.find_spec(lib) is None:
                print(f"| {lib} | not installed | | | |")
                continue
            for _ in range(args.runs):
                out = subprocess.run(
                    [sys.executable, "-c", PROBE, lib, str(data), ",".join(USED)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                cells = " | ".join(f"{float(x):.3f} s" for x in out.stdout.split())
                print(f"| {lib} | {cells} |")


if __name__ == "__main__":
    main()
