"""The shell run on the submit host. POSIX sh, sent as `/bin/sh -c '<one line>'` so that it works whatever
the user's login shell is (csh and tcsh too: one line, no single quote, no '!').

Secrets never appear here: a script that needs the passphrase reads it from its standard input with the
`read` builtin and hands it to each openssl through a pipe from the `printf` builtin, so it is in no
process's command line (nor environment) on the host.
"""

from __future__ import annotations

import re

# Converts ~/.globus/usercred.p12 into usercert.pem (0644) and userkey.pem (0400, still encrypted, AES-256)
# with the host's openssl, in temporary files first, moved into place only when both were written.
# Handles OpenSSL 1.x and LibreSSL (no -legacy flag) and OpenSSL 3.x with or without the legacy provider:
# tries without -legacy first (onboard's package needs none; a CA's RC2-40 one does), and only then asks
# whether the legacy provider loads. onboard checks afterwards, in memory, that the key opens with the
# passphrase and belongs to the certificate. Prints key=value lines; result=ok when both files are in place.
CONVERT = r"""
umask 077;
IFS= read -r PW || PW=;
cd "$HOME/.globus" || { echo result=no-globus-dir; exit 0; };
O=$(command -v openssl 2>/dev/null);
if [ -z "$O" ]; then echo result=no-openssl; exit 0; fi;
V=$("$O" version 2>/dev/null | head -n 1);
echo "version=$V";
T=.onboard-cert.tmp; K=.onboard-key.tmp;
rm -f "$T" "$K";
conv() {
  printf "%s\n" "$PW" |
    "$O" pkcs12 $1 -in usercred.p12 -passin stdin -clcerts -nokeys | "$O" x509 -out "$T" &&
  printf "%s\n%s\n" "$PW" "$PW" |
    "$O" pkcs12 $1 -in usercred.p12 -passin stdin -passout stdin -nocerts -aes256 -out "$K" &&
  test -s "$K";
};
L=;
if conv ""; then echo mode=plain;
else
  case "$V" in
    "OpenSSL 0."*|"OpenSSL 1."*|LibreSSL*) echo legacy=not-applicable ;;
    *) if "$O" list -providers -provider legacy >/dev/null 2>&1; then L=-legacy; echo legacy=available;
       else echo legacy=missing; fi ;;
  esac;
  if [ -n "$L" ] && conv "$L"; then echo mode=legacy;
  else rm -f "$T" "$K"; echo result=openssl-failed; exit 0; fi;
fi;
chmod 644 "$T" && chmod 400 "$K" && chmod 600 usercred.p12 ||
  { rm -f "$T" "$K"; echo result=chmod-failed; exit 0; };
mv -f "$T" usercert.pem && mv -f "$K" userkey.pem || { echo result=mv-failed; exit 0; };
echo result=ok
"""

# What the host offers for verification (no secret needed).
PROBE_VOMS = r"""
echo "uid=$(id -u)";
echo "voms_proxy_init=$(command -v voms-proxy-init 2>/dev/null)";
echo "voms_proxy_info=$(command -v voms-proxy-info 2>/dev/null)";
for d in "$X509_CERT_DIR" "$HOME/.globus/certificates" /etc/grid-security/certificates; do
  if [ -n "$d" ] && [ -d "$d" ]; then echo "cert_dir=$d"; break; fi;
done;
echo "voms_userconf=$VOMS_USERCONF";
echo "voms_dir=${X509_VOMS_DIR:-/etc/grid-security/vomsdir}";
if [ -d "$HOME/.glite/vomses" ]; then echo glite_vomses=dir;
elif [ -e "$HOME/.glite/vomses" ]; then echo glite_vomses=file;
else echo glite_vomses=none; fi
"""


def voms_proxy(vo: str, vomses: str, vomsdir: str, cert_dir: str) -> str:
    """voms-proxy-init -voms VO into a private temporary file, voms-proxy-info -all on it, then remove it.
    The user's own proxy (/tmp/x509up_u<uid>) is left alone. Relative paths are relative to $HOME.
    As any user, voms-proxy-init finds ~/.globus by itself (which is what the check proves); as root it
    would take the host credential instead, so there the installed files are named explicitly.
    Empty `vomses` and `vomsdir`: the host's own configuration, as a plain voms-proxy-init there uses it."""
    for value in (vo, vomses, vomsdir, cert_dir):
        _check_safe(value)
    env = ""
    if vomsdir:
        vomsdir = vomsdir if vomsdir.startswith("/") else f"$HOME/{vomsdir}"
        env = f'X509_VOMS_DIR="{vomsdir}"; export X509_VOMS_DIR;'
    option = ""
    if vomses:
        vomses = vomses if vomses.startswith("/") else f"$HOME/{vomses}"
        option = f' -vomses "{vomses}"'
    if cert_dir:
        env += f' X509_CERT_DIR="{cert_dir}"; export X509_CERT_DIR;'
    script = f"""
umask 077;
IFS= read -r PW || PW=;
cd "$HOME" || exit 1;
{env}
set --;
if [ "$(id -u)" = 0 ]; then set -- -cert "$HOME/.globus/usercert.pem" -key "$HOME/.globus/userkey.pem"; fi;
P=$(mktemp "${{TMPDIR:-/tmp}}/onboard-verify.XXXXXX") || {{ echo result=no-tmp; exit 0; }};
R=$(mktemp "${{TMPDIR:-/tmp}}/onboard-rand.XXXXXX") && RANDFILE="$R" && export RANDFILE;
printf "%s\\n" "$PW" | voms-proxy-init -voms {vo} -pwstdin "$@"{option} -out "$P" 2>&1;
echo "init_status=$?";
voms-proxy-info -all -file "$P" 2>&1;
echo "info_status=$?";
rm -f "$P" "$R";
echo result=done
"""
    return one_line(script)


_UNSAFE = re.compile(r"""['"`$\\!\n\r;&|<>(){}*?\[\]~]""")


def _check_safe(value: str) -> None:
    """Values put into scripts are names and paths we chose or validated: refuse anything shell-active."""
    if _UNSAFE.search(value):
        raise ValueError(f"unsafe characters in {value!r}")


def one_line(script: str) -> str:
    lines = [ln.strip() for ln in script.strip().splitlines() if ln.strip()]
    text = " ".join(lines)
    if "'" in text or "!" in text:
        raise ValueError("a remote script may contain neither ' nor !")
    return text


def command(script: str) -> str:
    """The command line sent to sshd: the login shell (even csh) runs /bin/sh on our one-line script."""
    return "/bin/sh -c '" + one_line(script) + "'"


def parse(output: str) -> dict[str, str]:
    """key=value lines of a script's output (the last value of a key wins); other lines are ignored."""
    out: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[a-z_]+", key):
            out[key] = value.strip()
    return out
