#!/usr/bin/env python3
"""Generate cairn(1), cairn-agent(1) and the bash completion from the CLI's
own help: `cairn help` (the command table of src/cli/cli.c), `cairn agent -h`
(agent_config_usage(), printed from the options table in src/agent/config.c)
and each command's "Subcommands:" list. Nothing here lists a flag or command
by hand, so the pages and the completion cannot drift from the binary; the
`cli_docs_in_step` ctest re-runs this with --check.

    gen-cli-docs.py CAIRN_BIN OUTDIR            write cairn.1 cairn-agent.1 cairn.bash
    gen-cli-docs.py --check CAIRN_BIN OUTDIR    fail if OUTDIR's files differ from
                                                what CAIRN_BIN prints now, or miss
                                                any flag or command it prints
    gen-cli-docs.py --self-test CAIRN_BIN       the check fails on pages that
                                                drifted (a flag, a command gone)
"""

import os
import re
import shutil
import subprocess
import sys

DATE = "2026"  # fixed: the pages must be reproducible (no build date)


def run(binary, *args):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0"  # the ASan build prints help too
    p = subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=60, check=False)
    return p.stdout.decode()


def parse_commands(text):
    """`cairn help`: "    name    Description" lines after "Available commands"."""
    cmds = []
    body = text.split("Available commands are:", 1)
    if len(body) != 2:
        sys.exit("gen-cli-docs: `cairn help` has no 'Available commands are:' section")
    for line in body[1].splitlines():
        m = re.match(r"^    (\S+)\s+(.*\S)\s*$", line)
        if m:
            cmds.append((m.group(1), m.group(2)))
    if not cmds:
        sys.exit("gen-cli-docs: no commands in `cairn help`")
    return cmds


def parse_subcommands(text):
    body = text.split("Subcommands:", 1)
    if len(body) != 2:
        return []
    subs = []
    for line in body[1].splitlines():
        m = re.match(r"^    (\S+)\s+(.*\S)\s*$", line)
        if m:
            subs.append((m.group(1), m.group(2)))
        elif line.strip() and not line.startswith("    "):
            break
    return subs


def parse_flags(text):
    """A client command's -h: "  -flag" or "  -flag=<what>" lines."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^  -([a-z0-9-]+)(=<[^>]*>)?\s*$", line)
        if m:
            f = "-" + m.group(1) + ("=" if m.group(2) else "")
            if f not in out:
                out.append(f)
    return out


def parse_agent_options(text):
    """agent_config_usage(): "  -flag[=<value>]" then "      help" lines."""
    opts = []
    cur = None
    for line in text.splitlines():
        m = re.match(r"^  -([a-z0-9-]+)(=<value>)?$", line)
        if m:
            cur = {"flag": m.group(1), "value": bool(m.group(2)), "help": []}
            opts.append(cur)
        elif cur is not None and line.startswith("      "):
            cur["help"].append(line.strip())
        elif not line.strip():
            cur = None
    if not opts:
        sys.exit("gen-cli-docs: no options in `cairn agent -h`")
    for o in opts:
        o["help"] = " ".join(o["help"])
    return opts


def sentence(s):
    return s if s.endswith(".") else s + "."


def roff(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", s)


def header(name, section_title, version):
    return [
        '.TH %s 1 "%s" "cairn %s" "%s"' % (name.upper(), DATE, version, section_title),
    ]


def version_of(binary):
    m = re.search(r"Cairn v(\S+)", run(binary, "version"))
    if not m:
        sys.exit("gen-cli-docs: `cairn version` printed no 'Cairn vX'")
    return m.group(1)


def page_cairn(cmds, subs, version):
    out = header("cairn", "User Commands", version)
    out += [
        ".SH NAME",
        "cairn \\- Consul\\-compatible service discovery and key/value store",
        ".SH SYNOPSIS",
        ".B cairn",
        ".I command",
        ".RI [ options ]",
        ".RI [ args ]",
        ".br",
        ".B cairn help",
        ".RI [ command ]",
        ".SH DESCRIPTION",
        "cairn speaks Consul's HTTP API and command line. One binary runs the agent",
        "(see",
        ".BR cairn\\-agent (1))",
        "and the client commands below, which talk HTTP to the agent at",
        ".B CAIRN_HTTP_ADDR",
        "or",
        ".B CONSUL_HTTP_ADDR",
        "(default 127.0.0.1:8500). Each command prints its own options with",
        ".BR \"cairn \\fIcommand\\fP \\-h\" .",
        ".SH COMMANDS",
    ]
    for name, desc in cmds:
        out += [".TP", ".B %s" % roff(name), roff(sentence(desc))]
        for sname, sdesc in subs.get(name, []):
            out += [".RS", ".TP", ".B %s %s" % (roff(name), roff(sname)), roff(sentence(sdesc)), ".RE"]
    out += [
        ".SH ENVIRONMENT",
        ".TP",
        ".B CAIRN_HTTP_ADDR",
        "Address of the agent's HTTP API (host:port or a URL); overrides",
        ".BR CONSUL_HTTP_ADDR .",
        ".TP",
        ".B CONSUL_HTTP_ADDR",
        "As in Consul, so existing scripts work unchanged.",
        ".SH FILES",
        ".TP",
        ".I /etc/cairn.d/",
        "Configuration directory of the packaged service (HCL or JSON files).",
        ".TP",
        ".I /var/lib/cairn/",
        "Data directory of the packaged service.",
        ".SH SEE ALSO",
        ".BR cairn\\-agent (1),",
        ".BR systemctl (1)",
        ".PP",
        "/usr/share/doc/cairn/ and https://developer.hashicorp.com/consul/commands",
        "(the commands cairn follows).",
    ]
    return "\n".join(out) + "\n"


def page_agent(opts, version):
    out = header("cairn-agent", "User Commands", version)
    out += [
        ".SH NAME",
        "cairn\\-agent \\- run a cairn agent (server)",
        ".SH SYNOPSIS",
        ".B cairn agent",
        ".RI [ options ]",
        ".SH DESCRIPTION",
        "Starts the cairn agent and runs until SIGINT or SIGTERM. SIGHUP reloads the",
        "configuration files (as",
        ".B cairn reload",
        "does). Started by systemd with",
        ".BR Type=notify ,",
        "the agent reports READY=1 once its HTTP API serves, RELOADING=1 around a",
        "reload and STOPPING=1 at shutdown",
        ".RB ( sd_notify (3)).",
        ".PP",
        "Settings come from defaults, then configuration files (in the order given),",
        "then these flags. Every flag has a configuration\\-file key of the same",
        "meaning (Consul's names); the keys are listed in docs/config.md.",
        ".SH OPTIONS",
    ]
    for o in opts:
        flag = "\\-" + roff(o["flag"])
        if o["value"]:
            out += [".TP", ".BI \"%s=\" value" % flag]
        else:
            out += [".TP", ".B %s" % flag]
        out.append(roff(o["help"]))
    out += [
        ".SH SIGNALS",
        ".TP",
        ".B SIGHUP",
        "Reload the configuration files; settings that cannot change while running",
        "are kept and logged.",
        ".TP",
        ".BR SIGINT ", " SIGTERM",
        "Shut down gracefully.",
        ".SH EXAMPLES",
        "A development agent:",
        ".PP",
        ".RS",
        ".B cairn agent \\-dev",
        ".RE",
        ".PP",
        "The packaged service (cairn.service) runs:",
        ".PP",
        ".RS",
        ".B cairn agent \\-config\\-dir=/etc/cairn.d",
        ".RE",
        ".SH FILES",
        ".TP",
        ".I /etc/cairn.d/cairn.hcl",
        "The packaged configuration (datacenter, node_name, data_dir, server).",
        ".TP",
        ".I /var/lib/cairn/",
        "The packaged data directory.",
        ".SH SEE ALSO",
        ".BR cairn (1),",
        ".BR systemd.service (5),",
        ".BR sd_notify (3)",
    ]
    return "\n".join(out) + "\n"


def completion(cmds, subs, opts, cflags):
    flags = " ".join("-" + o["flag"] + ("=" if o["value"] else "") for o in opts)
    cases = []
    for name, sl in sorted(subs.items()):
        if sl:
            cases.append("            %s) words2=\"%s\" ;;" % (name, " ".join(s for s, _ in sl)))
    two = []
    one = []
    for key, fl in sorted(cflags.items()):
        if not fl:
            continue
        if " " in key:
            two.append('            "%s") f="%s" ;;' % (key, " ".join(fl)))
        else:
            one.append('                %s) f="%s" ;;' % (key, " ".join(fl)))
    return """# bash completion for cairn. Generated by scripts/gen-cli-docs.py from
# `cairn help`, `cairn agent -h` and each command's subcommands: do not edit.
# Needs nothing but bash (not the bash-completion package's helpers).
_cairn()
{
    local cword=$COMP_CWORD cur=${COMP_WORDS[COMP_CWORD]}
    local flag="" val="" pre=""
    # "-flag=value": '=' is in COMP_WORDBREAKS by default, so the line is
    # split as (-flag, =, value); without it the word is whole.
    if [[ $cur == = ]]; then
        flag=${COMP_WORDS[cword - 1]}
    elif [[ $cword -ge 2 && ${COMP_WORDS[cword - 1]} == = ]]; then
        flag=${COMP_WORDS[cword - 2]} val=$cur
    elif [[ $cur == -*=* ]]; then
        flag=${cur%%%%=*} val=${cur#*=} pre="$flag="
    fi
    if [[ $cword -eq 1 ]]; then
        COMPREPLY=($(compgen -W "help %(cmds)s" -- "$cur"))
        return
    fi
    local cmd=${COMP_WORDS[1]}
    if [[ $cmd == agent ]]; then
        if [[ -n $flag ]]; then
            case $flag in
                -config-dir | -data-dir) COMPREPLY=($(compgen -d -- "$val")) ;;
                -config-file) COMPREPLY=($(compgen -f -- "$val")) ;;
                -config-format) COMPREPLY=($(compgen -W "hcl json" -- "$val")) ;;
                -log-level) COMPREPLY=($(compgen -W "trace debug info warn error" -- "$val")) ;;
                *) COMPREPLY=() ;;
            esac
            [[ -n $pre ]] && COMPREPLY=("${COMPREPLY[@]/#/$pre}")
            return
        fi
        COMPREPLY=($(compgen -W "%(flags)s" -- "$cur"))
        [[ ${COMPREPLY-} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi
    if [[ $cmd == help && $cword -eq 2 ]]; then
        COMPREPLY=($(compgen -W "%(cmds)s" -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        # The flags of "command subcommand", else of the command.
        local f=""
        case "$cmd ${COMP_WORDS[2]-}" in
%(two)s
        esac
        if [[ -z $f ]]; then
            case $cmd in
%(one)s
            esac
        fi
        COMPREPLY=($(compgen -W "$f" -- "$cur"))
        [[ ${COMPREPLY-} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi
    if [[ $cmd == validate ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    local words2=""
    if [[ $cword -eq 2 ]]; then
        case $cmd in
%(cases)s
        esac
        COMPREPLY=($(compgen -W "$words2" -- "$cur"))
    fi
} &&
    complete -F _cairn cairn
""" % {
        "cmds": " ".join(n for n, _ in cmds),
        "flags": flags,
        "cases": "\n".join(cases),
        "two": "\n".join(two),
        "one": "\n".join(one),
    }


COMPLETION_CASES = [
    # (COMP_WORDS, COMP_CWORD, expected COMPREPLY)
    (["cairn", "ag"], 1, ["agent"]),
    (["cairn", "help", "oper"], 2, ["operator"]),
    (["cairn", "kv", "g"], 2, ["get"]),
    (["cairn", "catalog", "n"], 2, ["nodes"]),
    (["cairn", "agent", "-config-f"], 2, ["-config-file=", "-config-format="]),
    (["cairn", "agent", "-serv"], 2, ["-server", "-server-port="]),
    (["cairn", "agent", "-log-level", "=", "de"], 4, ["debug"]),
    (["cairn", "agent", "-config-format", "="], 3, ["hcl", "json"]),
    (["cairn", "agent", "-log-level=w"], 2, ["-log-level=warn"]),
    (["cairn", "kv", "get", "-rec"], 3, ["-recurse"]),
    (["cairn", "members", "-wa"], 2, ["-wan"]),
    (["cairn", "kv", "put", "-http-a"], 3, ["-http-addr="]),
]


def exercise_completion(path):
    """Run _cairn in bash on a few command lines: the script must work, not
    only list the words."""
    bad = []
    for words, cword, want in COMPLETION_CASES:
        script = ('source "$1"; COMP_WORDS=(%s); COMP_CWORD=%d; _cairn; '
                  'printf "%%s\\n" "${COMPREPLY[@]}"' %
                  (" ".join("'%s'" % w for w in words), cword))
        p = subprocess.run(["bash", "-c", script, "bash", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30, check=False)
        got = [w for w in p.stdout.decode().split("\n") if w]
        if p.returncode or got != want:
            bad.append("completion of %r: got %r, want %r" % (" ".join(words), got, want))
    return bad


def generate(binary):
    cmds = parse_commands(run(binary, "help"))
    subs, flags = {}, {}
    for name, _ in cmds:
        if name == "agent":
            continue
        text = run(binary, name, "-h")
        subs[name] = parse_subcommands(text)
        flags[name] = parse_flags(text)
        for sname, _ in subs[name]:
            flags[name + " " + sname] = parse_flags(run(binary, name, sname, "-h"))
    opts = parse_agent_options(run(binary, "agent", "-h"))
    version = version_of(binary)
    return {
        "cairn.1": page_cairn(cmds, subs, version),
        "cairn-agent.1": page_agent(opts, version),
        "cairn.bash": completion(cmds, subs, opts, flags),
    }, cmds, opts, flags


def self_test(binary):
    import tempfile
    generated = generate(binary)
    files, opts = generated[0], generated[2]
    flag = opts[len(opts) // 2]["flag"]
    mutations = [
        # (file, old, new, message the check must print)
        ("cairn-agent.1", ".B \\-%s\n" % roff(flag), ".B \\-renamed\n",
         "cairn-agent.1 lacks -%s" % flag),
        ("cairn-agent.1", '.BI "\\-%s=" value\n' % roff(flag),
         '.BI "\\-renamed=" value\n', "cairn-agent.1 lacks -%s" % flag),
        ("cairn.bash", " -%s" % flag, " -renamed", "cairn.bash lacks -%s" % flag),
        ("cairn.1", ".B kv\n", ".B kvx\n", "cairn.1 lacks command kv"),
        ("cairn.bash", "_cairn()", "_cairn()", None),  # no change: passes
    ]
    failures = []
    applied = 0
    for name, old, new, want in mutations:
        with tempfile.TemporaryDirectory() as d:
            for fname, text in files.items():
                with open(os.path.join(d, fname), "w") as f:
                    f.write(text)
            path = os.path.join(d, name)
            text = open(path).read()
            if old not in text:
                continue  # this flag is written the other way (bool or valued)
            with open(path, "w") as f:
                f.write(text.replace(old, new, 1))
            applied += 1
            bad = check_files(binary, generated, d)
            rc, out = (1 if bad else 0), "\n".join(bad)
            if want is None and rc != 0:
                failures.append("unchanged files fail the check: " + out)
            if want is not None and (rc == 0 or want not in out):
                failures.append("%s: %r -> %r not caught (rc %d): %s" % (name, old, new, rc, out))
    if applied != len(mutations) - 1:  # one of the two flag spellings applies
        failures.append("%d of %d mutations applied" % (applied, len(mutations) - 1))
    for f in failures:
        print("gen-cli-docs self-test: " + f, file=sys.stderr)
    return 1 if failures else 0


def check_files(binary, generated, outdir):
    """What --check reports: a list of problems (empty: in step)."""
    files, cmds, opts, cflags = generated
    bad = []
    for name, text in files.items():
        try:
            with open(os.path.join(outdir, name)) as f:
                have = f.read()
        except OSError as e:
            bad.append("%s: %s" % (name, e))
            continue
        if have != text:
            bad.append("%s: differs from what %s prints now (rebuild)" % (name, binary))
    # Independent of the generator's own layout: every flag and command the
    # binary prints is in the page and the completion.
    try:
        agent_page = open(os.path.join(outdir, "cairn-agent.1")).read()
        cairn_page = open(os.path.join(outdir, "cairn.1")).read()
        bash = open(os.path.join(outdir, "cairn.bash")).read()
    except OSError:
        agent_page = cairn_page = bash = ""
    for o in opts:
        if "\\-" + roff(o["flag"]) not in agent_page:
            bad.append("cairn-agent.1 lacks -%s" % o["flag"])
        if not re.search(r'[\s"]-%s[\s="]' % re.escape(o["flag"]), bash):
            bad.append("cairn.bash lacks -%s" % o["flag"])
    for key, fl in cflags.items():
        for fname in fl:
            line = re.search(r'"%s"\) f="([^"]*)"|\b%s\) f="([^"]*)"' % (
                re.escape(key), re.escape(key)), bash)
            if not line or fname not in (line.group(1) or line.group(2) or "").split():
                bad.append("cairn.bash lacks %s for %s" % (fname, key))
    for name, _ in cmds:
        if ".B %s\n" % roff(name) not in cairn_page:
            bad.append("cairn.1 lacks command %s" % name)
        if not re.search(r'[\s"]%s[\s"]' % re.escape(name), bash):
            bad.append("cairn.bash lacks command %s" % name)
    bad += exercise_completion(os.path.join(outdir, "cairn.bash"))
    if shutil.which("groff"):  # what lintian's groff-message check runs
        for page in ("cairn.1", "cairn-agent.1"):
            p = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(outdir, page)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                               check=False)
            if p.returncode or p.stdout.strip():
                bad.append("%s: groff warns: %s" % (page, p.stdout.decode().strip()))
    return bad


def main(argv):
    if argv[1:2] == ["--self-test"] and len(argv) == 3:
        return self_test(argv[2])
    check = argv[1:2] == ["--check"]
    args = argv[2:] if check else argv[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    binary, outdir = args
    files, cmds, opts, cflags = generate(binary)
    if not check:
        os.makedirs(outdir, exist_ok=True)
        for name, text in files.items():
            path = os.path.join(outdir, name)
            with open(path, "w") as f:
                f.write(text)
        return 0
    bad = check_files(binary, (files, cmds, opts, cflags), outdir)
    for b in bad:
        print("gen-cli-docs: " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
