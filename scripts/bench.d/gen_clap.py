#!/usr/bin/env python3
"""Writes the main.rs of the reference binary: a plain clap program with every command of a
schema document defined statically (builder API over string literals, the whole tree built
eagerly at start, as a hand-written CLI would be). It answers --help and parses arguments;
it does nothing else. The mapping follows client/src/tree.rs closely enough that both
programs have the same commands, flags and help texts to build:

- every command name once, visible, with the arguments of its highest version, and every
  NAME/N hidden, with its own arguments (igor lists and parses both);
- positional parameters in `x-igor-positional` order, required ones required;
- booleans without a true default are presence flags; integers get a range; enums (oneOf
  consts or `enum`) their values; arrays repeat and split on commas;
- a sensitive parameter also gets --NAME-stdin; flags that would shadow a global flag are
  spelled --param-NAME;
- the global flags and the built-in commands of igor are there too.

  gen_clap.py SCHEMA.json > main.rs
"""
import json
import sys

RESERVED = {"help", "server", "context", "output", "verbose", "force-schema-check", "version"}
BUILTINS = [
    ("login", "log in to the server and keep the token for later commands"),
    ("logout", "revoke the token on the server and forget it"),
    ("config", "show or change the configuration"),
    ("schema", "show, refresh or locate the cached schema"),
    ("completion", "print a shell completion script (bash, zsh, fish)"),
]


def lit(s):
    """A Rust string literal."""
    return json.dumps(s or "", ensure_ascii=False)


def resolve(root, s):
    for _ in range(16):
        ref = s.get("$ref") if isinstance(s, dict) else None
        if not ref:
            return s
        name = ref.split("/")[-1]
        s = root.get("$defs", {}).get(name) or root.get("definitions", {}).get(name) or {}
    return s


def classify(root, s):
    """(kind, extra): kind in str, int, num, bool, enum, array, json."""
    s = resolve(root, s)
    for key in ("anyOf", "oneOf"):
        if key in s:
            branches = [resolve(root, b) for b in s[key]]
            non_null = [b for b in branches
                        if b.get("type") != "null" and not ("const" in b and b["const"] is None)]
            if non_null and all("const" in b for b in non_null):
                return "enum", [b["const"] for b in non_null]
            if len(non_null) == 1:
                return classify(root, non_null[0])
            return "json", None
    if "enum" in s:
        return "enum", [v for v in s["enum"] if v is not None]
    ty = s.get("type")
    if isinstance(ty, list):
        ty = next((t for t in ty if t != "null"), None)
    if ty == "string":
        return "str", None
    if ty == "integer":
        return "int", (s.get("minimum", -(2**63)), s.get("maximum", 2**63 - 1))
    if ty == "number":
        return "num", None
    if ty == "boolean":
        return "bool", None
    if ty == "array":
        return "array", classify(root, s.get("items", {}))
    return "json", None


def arg_code(root, key, s, required, last_positional):
    flag = s.get("x-igor-cli-name") or key.replace("_", "-")
    if flag in RESERVED:
        flag = "param-" + flag
    kind, extra = classify(root, s)
    pos = s.get("x-igor-positional")
    helptext = s.get("description", "")
    if "default" in s and s["default"] not in (None, "", False):
        helptext += f" [default: {json.dumps(s['default'])}]"
    a = f"Arg::new({lit(key)})"
    if pos is not None:
        a += f".index({int(pos) + 1})"
    else:
        a += f".long({lit(flag)})"
    a += f".help({lit(helptext)})"
    nullable = isinstance(s.get("type"), list) and "null" in s.get("type")
    switch = kind == "bool" and not nullable and not required and s.get("default") is not True
    if switch and pos is None:
        a += ".action(ArgAction::SetTrue)"
    elif kind == "bool":
        a += '.value_parser(["true", "false"])'
    elif kind == "int":
        lo, hi = extra
        lo, hi = max(lo, -(2**63)), min(hi, 2**63 - 1)
        a += f".value_parser(clap::value_parser!(i64).range({lo}..={hi}))"
    elif kind == "enum":
        a += ".value_parser([" + ", ".join(lit(str(v)) for v in extra) + "])"
    elif kind == "array":
        inner, inner_extra = extra
        a += ".action(ArgAction::Append).value_delimiter(',')"
        if pos is not None and last_positional:
            a += ".num_args(1..)"
        if inner == "int":
            lo, hi = inner_extra
            a += f".value_parser(clap::value_parser!(i64).range({lo}..={hi}))"
        elif inner == "enum":
            a += ".value_parser([" + ", ".join(lit(str(v)) for v in inner_extra) + "])"
    if required and not s.get("x-igor-sensitive"):
        a += ".required(true)"
    out = [a]
    if s.get("x-igor-sensitive"):
        out.append(f"Arg::new({lit(key + '@stdin')}).long({lit(flag + '-stdin')})"
                   f".action(ArgAction::SetTrue).help({lit('read ' + key + ' from stdin')})")
    return out


def command_fn(idx, sub, c, hidden):
    params = c.get("params") or {}
    props = params.get("properties") or {}
    required = set(params.get("required") or [])
    positions = [p.get("x-igor-positional") for p in props.values()
                 if p.get("x-igor-positional") is not None]
    last = max(positions) if positions else None
    args = []
    for key, s in props.items():
        args += arg_code(params, key, s, key in required,
                         s.get("x-igor-positional") is not None
                         and s.get("x-igor-positional") == last)
    summary, _, rest = c["doc"].partition("\n")
    body = f"Command::new({lit(sub)}).about({lit(summary)})"
    if rest.strip():
        body += f".long_about({lit(c['doc'])})"
    if hidden:
        body += ".hide(true)"
    lines = [f"fn c{idx}() -> Command {{", f"    {body}"]
    for a in args:
        lines.append(f"        .arg({a})")
    lines.append("}")
    return "\n".join(lines)


def main():
    doc = json.load(open(sys.argv[1]))
    cmds = doc["commands"]
    latest = {}
    for c in cmds:
        if c["name"] not in latest or c["version"] > latest[c["name"]]["version"]:
            latest[c["name"]] = c
    entries = [(name, latest[name], False) for name in sorted(latest)
               if name not in {b for b, _ in BUILTINS} | {"help"}]
    entries += [(c["full_name"], c, True) for c in cmds]
    fns = [command_fn(i, sub, c, hidden) for i, (sub, c, hidden) in enumerate(entries)]
    subs = "\n".join(f"        .subcommand(c{i}())" for i in range(len(entries)))
    builtins = "\n".join(f"        .subcommand(Command::new({lit(n)}).about({lit(a)}))"
                         for n, a in BUILTINS)
    print(f"""//! Generated by scripts/bench.d/gen_clap.py: the static clap reference for the
//! start-up benchmark ({len(latest)} commands, {len(cmds)} command versions).
use clap::{{Arg, ArgAction, Command}};

{chr(10).join(fns)}

fn main() {{
    let cmd = Command::new("igor")
        .bin_name("igor")
        .version("0.1.0")
        .about("igor: manage the BMCs of a fleet through an igord server")
        .after_help("Every server command also accepts an explicit version, e.g. 'igor sel-delete/2'.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(Arg::new("server").long("server").global(true).value_name("URL").help("server URL"))
        .arg(Arg::new("context").long("context").global(true).value_name("NAME").help("use this context"))
        .arg(Arg::new("output").long("output").short('o').global(true).value_parser(["table", "json", "yaml"]).help("output format"))
        .arg(Arg::new("verbose").long("verbose").short('v').global(true).action(ArgAction::Count).help("say more"))
        .arg(Arg::new("force-schema-check").long("force-schema-check").global(true).action(ArgAction::SetTrue).help("revalidate the cached schema now"))
{builtins}
{subs};
    let m = cmd.get_matches();
    // A real CLI would now send the call; the benchmark times --help and parsing only.
    std::process::exit(if m.subcommand().is_some() {{ 0 }} else {{ 2 }});
}}""")


if __name__ == "__main__":
    main()
