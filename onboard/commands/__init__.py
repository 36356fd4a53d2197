"""The command table: what `onboard --help` lists and where each command lives.

Each command is onboard/commands/<module>.py with `add_arguments(name, parser)` and `run(args) -> int`;
those modules import heavy libraries inside `run` only. This file imports nothing (see onboard.quick).
"""

# name -> (module in onboard.commands, one-line help). Order is the order of `onboard --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "start": ("journey", "start the journey for a VO and run it as far as it goes"),
    "resume": ("journey", "continue the journey (as often as needed, days apart)"),
    "status": ("journey", "where the journey stands: done, current, next, and what it waits for"),
    "history": ("journey", "every step the journey took, with times and outcomes"),
    "renew": ("renew", "the second year: a new certificate, the VO told if it changed, the submit host "
              "updated"),
    "reset": ("journey", "forget the journey's state (files and credentials are kept)"),
    "confirm": ("confirm",
        "open the VO's e-mail confirmation link by hand (checked like the mail reader does)"),
    "convert": ("credentials", "convert the CA's PKCS#12 into grid PEM files, a clean .p12 and links"),
    "keygen": ("credentials", "make a key and CSR locally, for CAs that take a request"),
    "doctor": ("credentials", "check the installed credential against what grid tools require"),
    "vos": ("vos", "the VO catalog: how each VO registers members and what it needs"),
    "check": ("check", "what can lapse: certificate, hosts, VO membership, AUP, CRLs (exit 50/51 for cron)"),
    "tokens": ("tokens", "WLCG tokens: an oidc-agent account for an IAM VO's issuer, and a token checked"),
    "explain": ("explain", "what a CA portal's or grid tool's error message means, and whom to ask"),
    "trust": ("trust", "the grid trust anchors in use: check them, or install the IGTF bundle"),
    "browser-import": ("browser",
        "import your certificate into Firefox/Thunderbird (NSS), or show the steps"),
    "browser-export": ("browser",
        "export a certificate from Firefox/Thunderbird into onboard (the OSG flow)"),
    "workflows": ("workflows", "list and validate the journeys onboard knows"),
    "demo": ("demo", "the whole journey against a throwaway sandbox grid, non-interactively"),
    "sandbox": ("sandbox", "the embedded grid (CA, VOMS-Admin, mail, submit host) for sessions and tests"),
}

# The options before the command: (flags, metavar or None for a switch, help).
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], str | None, str], ...] = (
    (("-h", "--help"), None, "show this help and exit"),
    (("--version",), None, "show onboard's version and exit"),
    (("--config",), "FILE", "configuration file (default: the platform config directory)"),
    (("--debug",), None, "show tracebacks"),
    (("-q", "--quiet"), None, "no explanations, only what happens"),
)

DESCRIPTION = "From nothing to a working grid VO credential."
EXIT_CODES = ("Exit codes: 0 done, 1 error, 2 usage, 75 waiting (run `onboard resume` later); "
              "others name the failure (see README).")
