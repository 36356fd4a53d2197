#!/usr/bin/env python3
"""Fuzz one target for a while, in its own process: `runner.py TARGET SECONDS CORPUS ARTIFACTS [ENGINE]`.

ENGINE is atheris (coverage-guided libFuzzer over onboard's and the standard library's Python code) or
hypothesis (random mutations of the seeds; used where atheris has no wheel). Either way the process
ends with libFuzzer's summary line, `Done N runs in S second(s)`, and exits non-zero after writing the
failing input to ARTIFACT_DIR/crash-<sha1> when the target broke its contract. driver.py runs it.
"""

from __future__ import annotations

import hashlib
import sys
import time
import traceback
from pathlib import Path

MAX_LEN = 24 * 1024  # a p12 seed is ~4 KiB; the largest seed (config.example.toml) ~12 KiB


def atheris_main(target: str, seconds: int, corpus: Path, artifacts: Path) -> None:
    import atheris

    # instrument what parses the input: onboard itself, and the standard library parsers it relies on
    from tests.fuzz.targets import EVERY

    fn = EVERY[target]
    first = min((p for p in corpus.iterdir() if p.is_file()), key=lambda p: p.stat().st_size, default=None)
    # instrument what parses the input: onboard and the standard library parsers it relies on; one call
    # imports exactly the modules this target reaches
    with atheris.instrument_imports(include=["onboard", "email", "html", "tomllib", "urllib"]):
        try:
            fn(first.read_bytes() if first else b"")
        except Exception:  # noqa: S110 - the fuzzer finds it again and reports it properly
            pass
    argv = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={seconds}",
        f"-artifact_prefix={artifacts}/",
        f"-max_len={MAX_LEN}",
        "-timeout=20",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
    ]
    atheris.Setup(argv, fn)
    atheris.Fuzz()  # exits the process


def _mutations(data: bytes, rnd) -> bytes:
    """A few libFuzzer-like edits: flip, set interesting bytes, insert, delete, truncate, splice a copy."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(7)
        i = rnd.randrange(len(b) + 1)
        if op == 0 and b and i < len(b):
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b and i < len(b):
            b[i] = rnd.choice([0, 1, 0x7F, 0x80, 0xFF, 0x30, 0x0A, 0x3C, 0x22, 0x5B])
        elif op == 2:
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        elif op == 3 and b:
            del b[i : i + rnd.randint(1, 64)]
        elif op == 4:
            del b[i:]
        elif op == 5 and b:
            j = rnd.randrange(len(b))
            b[i:i] = b[j : j + rnd.randint(1, 32)]
        elif op == 6 and len(b) > 2:  # change a DER length byte or a digit
            j = rnd.randrange(len(b))
            b[j] = (b[j] + rnd.choice([-1, 1, 0x40, 0x80])) & 0xFF
    return bytes(b[:MAX_LEN])


def hypothesis_main(target: str, seconds: int, corpus: Path, artifacts: Path) -> int:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from tests.fuzz.targets import EVERY

    fn = EVERY[target]
    seeds = [p.read_bytes() for p in sorted(corpus.iterdir()) if p.is_file()] or [b""]
    runs = 0
    last: list[bytes] = []

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(seeds), st.randoms(use_true_random=True), st.binary(max_size=64))
    def one(seed: bytes, rnd, raw: bytes) -> None:
        nonlocal runs
        data = raw if rnd.random() < 0.05 else _mutations(seed, rnd)
        last[:] = [data]
        runs += 1
        fn(data)

    start = time.monotonic()
    rc = 0
    while time.monotonic() - start < seconds:
        try:
            one()
        except Exception:
            traceback.print_exc()
            crash = last[0]
            path = artifacts / f"crash-{hashlib.sha1(crash).hexdigest()}"
            path.write_bytes(crash)
            print(f"==ERROR: the target broke its contract; input written to {path}", file=sys.stderr)
            rc = 1
            break
    print(f"Done {runs} runs in {int(time.monotonic() - start)} second(s)", file=sys.stderr)
    return rc


def main() -> int:
    target, seconds, corpus, artifacts = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    engine = sys.argv[5] if len(sys.argv) > 5 else "atheris"
    artifacts.mkdir(parents=True, exist_ok=True)
    if engine == "atheris":
        atheris_main(target, seconds, corpus, artifacts)
        return 0
    return hypothesis_main(target, seconds, corpus, artifacts)


if __name__ == "__main__":
    sys.exit(main())
