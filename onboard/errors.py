"""Every error onboard reports: a one-line message, a one-line hint and an exit code.

The CLI (onboard.cli) is the only place these become output; everything below it raises.
Messages never contain a secret (passphrase, password, token): callers pass only names and paths.
"""

from __future__ import annotations


class Exit:
    """Exit codes. Each kind of failure a user can act on has its own.

    Plain ints, like os.EX_*: building an IntEnum of them costs more start-up time than `onboard status`
    can spare (a test checks the values are distinct)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3  # bad or missing configuration
    STATE = 4  # state file corrupt, from a newer onboard, or no journey
    LOCKED = 5  # another onboard holds the journey
    NOT_IMPLEMENTED = 6
    WORKFLOW = 7  # invalid workflow definition
    UNKNOWN_VO = 8  # a VO neither in the catalog nor in the configuration
    UNSAFE_PATH = 9  # a directory or file others control: other owner, group/other write, planted link
    # credentials (convert, keygen, doctor)
    WRONG_PASSPHRASE = 10
    NOT_PKCS12 = 11
    UNSUPPORTED_ALGORITHM = 12
    NO_PRIVATE_KEY = 13
    END_ENTITY = 14  # none, or several
    KEY_MISMATCH = 15
    VALIDITY = 16  # expired or not yet valid
    WEAK_KEY = 17
    NOT_CLIENT_AUTH = 18
    CREDENTIAL = 19  # other credential problems (files, doctor checks)
    # registration and mail
    TLS = 20
    SERVER = 21  # registration server misbehaved (5xx, HTML error page, unexpected answer)
    REJECTED = 22
    EXPIRED = 23
    UNSAFE_LINK = 24
    MAIL = 25
    FORM = 26  # the server refused the registration form's values
    NETWORK = 27
    AMBIGUOUS = 28  # confirmation mails for several requests: onboard cannot tell which one is the user's
    # SSH delivery and verification
    HOST_KEY_UNKNOWN = 30
    HOST_KEY_CHANGED = 31
    SSH_AUTH = 32
    REMOTE = 33  # a command on the submit host failed
    VERIFY = 34
    HOST_KEY_REVOKED = 35  # the submit host offers a key known_hosts marks @revoked
    # the CA / obtain step
    CA = 40
    SANDBOX = 41
    BROWSER = 42  # a browser's or mail client's certificate store: no primary password, pk12util failed
    TRUST = 43  # trust anchors: the needed CA is missing, or an IGTF tarball that does not verify
    CATALOG = 44  # `onboard vos --update`: a source with a malformed vomses or LSC line, or unreadable
    # the second year (`onboard check`, and a VOMS server refusing a lapsed membership)
    LAPSING = 50  # something lapses within the warning period (`onboard check --warn-days`)
    LAPSED = 51  # something has lapsed: certificate ended, membership suspended or ended, AUP overdue
    CHECK_UNKNOWN = 52  # `onboard check` could not tell for some item (and nothing lapsed or lapses)
    # tokens (`onboard tokens`): oidc-agent missing or failing, and each reason a token is refused
    OIDC_AGENT = 60  # oidc-agent's tools missing, or oidc-agent/oidc-gen/oidc-token failed
    TOKEN_SIGNATURE = 61  # not signed by a key of the issuer's JWKS
    TOKEN_ISSUER = 62  # issued by another issuer than the VO's
    TOKEN_EXPIRED = 63  # expired, or not valid yet
    TOKEN_GROUP = 64  # the VO's group is not in wlcg.groups
    WAITING = 75  # EX_TEMPFAIL: waiting on something outside our control; run `onboard resume` later
    INTERRUPTED = 130


def one_line(text: str) -> str:
    """Control characters shown escaped: a message stays one line (and a terminal is not steered) even
    when it quotes what a file, a certificate's DN or a server put there."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OnboardError(Exception):
    """Base of every error meant for the user: what went wrong, and what to do about it."""

    exit_code: int = Exit.ERROR
    default_hint: str = "Run again with --debug for details."

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int | None = None):
        message = one_line(message)
        super().__init__(message)
        self.message = message
        self.hint = one_line(hint or self.default_hint)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(OnboardError):
    exit_code = Exit.USAGE
    default_hint = "See `onboard --help`."


class ConfigError(OnboardError):
    exit_code = Exit.CONFIG
    default_hint = "Fix the configuration file (see config.example.toml), or pass the value as a flag."


class MissingInput(ConfigError):
    """A value is needed, there is no terminal to ask on, and no flag or config key supplied it."""

    def __init__(self, what: str, *, flag: str | None = None, key: str | None = None):
        ways = " or ".join(
            x for x in (f"the flag {flag}" if flag else "", f"config key {key}" if key else "") if x
        )
        super().__init__(
            f"{what} is needed and there is no terminal to ask on.",
            f"Supply it with {ways}." if ways else "Run onboard in a terminal.",
            exit_code=Exit.USAGE,
        )


class StateError(OnboardError):
    exit_code = Exit.STATE
    default_hint = "See `onboard status`; `onboard reset --vo VO` starts the journey over."


class UnsafePathError(OnboardError):
    """A directory onboard keeps private files in, or a file in it, that someone else could control."""

    exit_code = Exit.UNSAFE_PATH
    default_hint = "Fix it (yours, no group/other write: chmod go-w) or remove it, then run onboard again."


class LockedError(OnboardError):
    exit_code = Exit.LOCKED
    default_hint = "Wait for the other onboard to finish, or stop it; the lock goes with that process."


class WorkflowError(OnboardError):
    exit_code = Exit.WORKFLOW
    default_hint = "Fix the workflow file; each state and transition is described in workflows/README.md."


class NotImplementedStep(OnboardError):
    exit_code = Exit.NOT_IMPLEMENTED
    default_hint = "This part of onboard is not built yet; the journey keeps its place until it is."

    def __init__(self, step: str, detail: str = ""):
        super().__init__(f"not implemented yet: {step}" + (f" ({detail})" if detail else ""))


class CredentialError(OnboardError):
    exit_code = Exit.CREDENTIAL


class RegistrationError(OnboardError):
    exit_code = Exit.SERVER


class MailError(OnboardError):
    exit_code = Exit.MAIL


class SSHError(OnboardError):
    exit_code = Exit.REMOTE


class Interrupted(OnboardError):
    exit_code = Exit.INTERRUPTED
    default_hint = "Nothing was lost: `onboard resume` picks the journey up where it stopped."


class Waiting(OnboardError):
    """Raised by a step (and by resume) when it must wait for the outside world.

    Not a failure: the engine records when to look again and the CLI exits 75.
    """

    exit_code = Exit.WAITING

    def __init__(self, what: str, next_check_after, hint: str | None = None):
        # next_check_after: an aware datetime, or None when a person must act first (e.g. a CA portal)
        self.what = what
        self.next_check_after = next_check_after
        when = f"; next check after {next_check_after:%Y-%m-%d %H:%M:%S %Z}" if next_check_after else ""
        super().__init__(
            f"waiting: {what}{when}", hint or "Run `onboard resume` later (or `onboard resume --wait`)."
        )


class Outcome(Exception):
    """Raised by a step to end its transition in another way than the usual one.

    `trigger` names a transition of the workflow from the same state (e.g. "rejected", "expired");
    `reason` is stored in the journey record and shown by `status`.
    """

    def __init__(self, trigger: str, reason: str):
        super().__init__(f"{trigger}: {reason}")
        self.trigger = trigger
        self.reason = reason


class SandboxError(OnboardError):
    """The embedded sandbox grid (onboard sandbox ...) cannot do what was asked."""

    exit_code = Exit.SANDBOX
    default_hint = "See `onboard sandbox status`; the sandbox log is DIR/sandbox.log."
