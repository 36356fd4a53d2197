"""Configuration: pydantic models, read from TOML, overridden by ONBOARD_* environment variables.

Secrets are never values here: a `*_command` prints them, a `*_file` holds them, or onboard prompts.
Environment overrides use `ONBOARD_<SECTION>__<KEY>`, e.g. `ONBOARD_USER__EMAIL=jane@example.org`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from onboard import paths
from onboard.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV_PREFIX = "ONBOARD_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class User(Section):
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    institution: str = ""
    phone: str = ""
    address: str = ""

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if v and ("@" not in v or v.startswith("@") or v.endswith("@") or " " in v):
            raise ValueError("an e-mail address like jane@example.org")
        return v

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class Credentials(Section):
    dir: Path = Path("~/.globus")
    name_format: Literal["dated", "cn", "plain"] = "dated"
    # Passphrase of the credential: a command that prints it, or a file whose first line it is.
    passphrase_command: str = ""
    passphrase_file: Path | None = None


class CA(Section):
    provider: Literal["harica", "sectigo", "cilogon", "other", "sandbox"] = "harica"
    # Sectigo's portal address depends on the NREN (e.g. https://cert-manager.com/customer/surfnet/idp/clientgeant)
    portal_url: str = ""
    p12: Path | None = None  # a PKCS#12 already at hand
    download_dir: Path = Path("~/Downloads")
    open_browser: bool = True  # open the portal in a browser when there is a display
    csr: bool = False  # provider "other": make the key and a CSR here instead of downloading a .p12
    # with csr, in `onboard renew`: the CSR is made with the previous certificate's key (for CAs that
    # renew a certificate for the same key); otherwise a new key
    renew_with_old_key: bool = False
    sandbox_dir: Path | None = None  # provider "sandbox": the directory of `onboard sandbox up`
    # provider "sandbox" over its portal: the file (0600) with the seat token `onboard sandbox join` was given
    seat_token_file: Path | None = None


class VOEntry(Section):
    """A VO not in the shipped catalog, or an override of one that is."""

    kind: Literal["voms-admin", "iam", "vomrs"] = "voms-admin"
    # IAM: "browser-login" when the instance registers only after a login (CERN SSO): onboard guides
    registration: Literal["", "browser-login"] = ""
    url: str = ""  # e.g. https://voms2.cern.ch:8443/voms/cms
    token_issuer: str = ""  # the VO's OIDC issuer for WLCG tokens (`onboard tokens`), e.g. https://cms-auth.cern.ch/
    vomses: list[str] = Field(default_factory=list)
    lsc: dict[str, list[str]] = Field(default_factory=dict)  # host -> [host DN, CA DN]
    requirements: str = ""

    @field_validator("url", "token_issuer")
    @classmethod
    def _https(cls, v: str) -> str:
        if v and not v.lower().startswith("https://"):  # the client certificate goes only over verified TLS
            raise ValueError("an https:// URL (onboard registers over verified TLS only)")
        return v

    # the formats voms-proxy-init reads: a bad line is the config's error now, not the submit host's later
    @field_validator("vomses")
    @classmethod
    def _vomses(cls, v: list[str]) -> list[str]:
        from onboard.catalog import parse_vomses

        for i, line in enumerate(v):
            try:
                parse_vomses(line)
            except ValueError as e:
                raise ValueError(f"vomses line {i + 1}: {e}") from None
        return v

    @field_validator("lsc")
    @classmethod
    def _lsc(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        from onboard.catalog import check_lsc

        for host, lines in v.items():
            try:
                check_lsc(lines)
            except ValueError as e:
                raise ValueError(f"LSC of {host}: {e}") from None
        return v


class Mail(Section):
    kind: Literal["none", "imap", "maildir"] = "none"
    host: str = ""
    port: int = Field(993, ge=1, le=65535)
    username: str = ""
    password_command: str = ""
    password_file: Path | None = None
    oauth2_token_command: str = ""  # for providers that require XOAUTH2
    folder: str = "INBOX"
    maildir: Path | None = None
    ca_file: Path | None = None  # extra trust anchor for the IMAP server (the sandbox, a campus CA)


class SubmitHost(Section):
    host: str = ""  # a name or a ~/.ssh/config alias
    user: str = ""
    port: int | None = Field(None, ge=1, le=65535)
    identity_file: Path | None = None
    trust_host_key: str = ""  # SHA256:... fingerprint accepted without asking
    known_hosts: Path | None = None
    x509_cert_dir: str = ""  # trust anchors ON the submit host, when not its default (for voms-proxy-init)


class Registration(Section):
    poll_min_seconds: int = Field(60, ge=1)
    poll_max_seconds: int = Field(3600, ge=1)
    timeout_seconds: float = Field(30.0, gt=0)
    message: str = ""  # the free-text message sent with the VOMS-Admin form
    # how approval is watched: auto (apiv2 with mail, else the start page), api, start, or mail
    poll_method: Literal["auto", "api", "start", "mail"] = "auto"
    group_manager: str = ""  # VOMS-Admin: the group manager to notify (the name the page shows), when asked
    groups: list[str] = Field(default_factory=list)  # VOMS-Admin/VOMRS: groups to request after confirming
    representative: str = ""  # VOMRS phase II: the representative (name or e-mail)
    username: str = ""  # IAM: the account name to ask for, lower case (default: from the e-mail address)
    organisation: str = ""  # IAM: the organisation name in its mail subjects (default: the VO)
    voms_aa_url: str = ""  # IAM: the VOMS-AA's generate-ac URL (default: from the VO's vomses line)
    mail_from: str = ""  # only registration mails from this sender (or "@domain") count; empty: any sender


class Trust(Section):
    cert_dir: Path | None = None


class Config(Section):
    vo: str = ""
    user: User = Field(default_factory=User)
    credentials: Credentials = Field(default_factory=Credentials)
    ca: CA = Field(default_factory=CA)
    vos: dict[str, VOEntry] = Field(default_factory=dict)
    mail: Mail = Field(default_factory=Mail)
    submit_host: SubmitHost = Field(default_factory=SubmitHost)
    registration: Registration = Field(default_factory=Registration)
    trust: Trust = Field(default_factory=Trust)

    # where this configuration came from (not a key of the file)
    source: Path | None = Field(None, exclude=True)


def _expected(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "no such key"
    if kind == "literal_error":
        return "one of " + str(err.get("ctx", {}).get("expected", ""))
    msg = err.get("msg", "invalid value")
    return msg.removeprefix("Value error, ")


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """ONBOARD_USER__EMAIL=x -> {"user": {"email": "x"}}; ONBOARD_VO=cms -> {"vo": "cms"}.

    A name with `__` is always meant as configuration (so a misspelt section is an error); a plain
    ONBOARD_NAME is configuration only when NAME is a top-level key: the others are onboard's own
    switches (ONBOARD_STATE_DIR, ONBOARD_NO_BROWSER, the sandbox hook's ONBOARD_DN, ...)."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
        if len(keys) == 1 and keys[0] not in Config.model_fields or keys == ["source"]:
            continue
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                break
        else:
            if keys:
                node[keys[-1]] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = _merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def default_path() -> Path:
    return paths.config_file()


def load(
    path: Path | None = None, environ: dict[str, str] | None = None, *, required: bool = False
) -> Config:
    """Load the configuration. Errors name the file, the key and what is expected."""
    environ = dict(os.environ if environ is None else environ)
    explicit = path is not None or "ONBOARD_CONFIG" in environ
    if path is None:
        path = Path(environ["ONBOARD_CONFIG"]) if "ONBOARD_CONFIG" in environ else default_path()
    path = path.expanduser()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(
                f"{path}: not valid TOML: {e}", "Fix the syntax at the line and column shown."
            ) from None
        except RecursionError:  # tomllib recurses per nesting level
            raise ConfigError(
                f"{path}: not valid TOML: arrays or tables nested too deep to read.",
                "A configuration nests a level or two; see config.example.toml.",
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"{path}: cannot be read: {e}", "Check the file exists and is readable UTF-8 text."
            ) from None
    elif explicit or required:
        raise ConfigError(f"{path}: no such configuration file.",
                          "Create it from config.example.toml, or run `onboard start` to be asked.")
    env = _env_overrides(environ)
    try:
        cfg = Config.model_validate(_merge(data, env))
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        env_name = ENV_PREFIX + "__".join(str(p).upper() for p in first["loc"])
        where = (
            f"{path}"
            if _has_key(data, first["loc"]) or env_name not in environ
            else f"environment {env_name}"
        )
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise ConfigError(f"{where}: key '{key}': {_expected(first)}{more}.",
                          "Fix that key; every key is documented in config.example.toml.") from None
    cfg.source = path if path.exists() else None
    return cfg


def _has_key(data: dict[str, Any], loc: tuple) -> bool:
    node: Any = data
    for p in loc:
        if not isinstance(node, dict) or p not in node:
            return False
        node = node[p]
    return True
