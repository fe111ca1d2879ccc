"""Which emulator configuration a throughput bench measures: faithful, or as hostile as AWS (SPEC §10).

Shared by orders_bench.py and notifications_bench.py (imported from the bench directory, not a bench itself):

    --faults SPEC   EKIOSK_EMULATOR_FAULTS for the hostile run, e.g. `aws` (default: none)
    --iam MODE      EKIOSK_EMULATOR_IAM for the hostile run: `enforce` or `off` (default: off)
    --seed N        the fault seed (default: drawn by the bench, so that it is known and printed)
    --compare       measure the faithful emulator too, side by side; with no --faults, the hostile
                    run is `aws` with IAM enforced (what `make bench` does)

`faithful` is the emulator as `make run` starts it by default: no faults, IAM not enforced.
"""

from __future__ import annotations

import argparse
import json
import random
import urllib.request
from dataclasses import dataclass

FAITHFUL = "faithful"


@dataclass(frozen=True)
class Configuration:
    label: str  # "faithful", or e.g. "aws + IAM enforced"
    faults: str  # EKIOSK_EMULATOR_FAULTS, the seed included ("" = none)
    iam: str  # "enforce" or "off"
    seed: int | None

    @property
    def faithful(self) -> bool:
        return not self.faults and self.iam != "enforce"

    @property
    def key(self) -> str:
        """The name of this run in the result files: `faithful` or `aws`."""
        return FAITHFUL if self.faithful else "aws"

    def describe(self) -> str:
        return f"EKIOSK_EMULATOR_FAULTS={self.faults or '(none)'} EKIOSK_EMULATOR_IAM={self.iam}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faults", default="", help="EKIOSK_EMULATOR_FAULTS for the run, e.g. aws (default none)")
    parser.add_argument("--iam", default="off", choices=("off", "enforce"), help="EKIOSK_EMULATOR_IAM (default off)")
    parser.add_argument("--seed", type=int, default=None, help="fault seed (default: drawn and printed)")
    parser.add_argument("--compare", action="store_true",
                        help="also measure the faithful emulator; without --faults the other run is aws + IAM enforce")


def configurations(args: argparse.Namespace) -> list[Configuration]:
    faults, iam = args.faults.strip(), args.iam
    if args.compare and not faults and iam == "off":
        faults, iam = "aws", "enforce"
    runs = []
    if args.compare or (not faults and iam == "off"):
        runs.append(Configuration(FAITHFUL, "", "off", None))
    if faults or iam == "enforce":
        seed = None
        if faults and faults.lower() not in ("none", "off"):
            seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
            if "seed=" not in faults:
                faults = f"{faults},seed={seed}"
            else:
                seed = int(faults.rsplit("seed=", 1)[1].split(",")[0])
        else:
            faults = ""
        shown = ",".join(p for p in faults.split(",") if p and not p.startswith("seed="))
        label = " + ".join(p for p in (shown, "IAM enforced" if iam == "enforce" else "") if p)
        runs.append(Configuration(label, faults, iam, seed))
    return runs


class FaultControl:
    """The emulator's /_ekiosk/faults routes (README "Running like AWS")."""

    def __init__(self, emulator_url: str):
        self.url = emulator_url.rstrip("/") + "/_ekiosk/faults"

    def _call(self, method: str, path: str = "", document: dict | None = None) -> dict:
        data = None if document is None else json.dumps(document).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def status(self) -> dict:
        return self._call("GET")

    def configure(self, faults: str) -> dict:
        """Replaces the random fault configuration at run time ("" = none; the IAM setting is unchanged)."""
        return self._call("PUT", "/config", {"faults": faults})


def injected_between(before: dict, after: dict) -> dict[str, int]:
    """Faults that struck between two GET /_ekiosk/faults answers, by kind."""
    start = before.get("injected", {})
    return {k: v - start.get(k, 0) for k, v in sorted(after.get("injected", {}).items()) if v - start.get(k, 0)}


def fault_report(configuration: Configuration, before: dict, after: dict) -> dict:
    """What the emulator says about a measured run: its configuration, the faults it injected, IAM refusals."""
    return {
        "configuration": configuration.label,
        "faults": configuration.faults or None,
        "iam": configuration.iam,
        "seed": after.get("config", {}).get("seed", configuration.seed) if configuration.faults else None,
        "emulator_config": after.get("config", {}),
        "injected": injected_between(before, after),
        "injected_total": sum(injected_between(before, after).values()),
        "iam_enforced": after.get("iam", {}).get("enforced"),
        "iam_denied": after.get("iam", {}).get("denied", []),
    }
