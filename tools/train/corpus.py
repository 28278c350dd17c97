#!/usr/bin/env python3
"""Build the multi-domain training corpus for the hotmoe default model.

Deterministic: files are enumerated in sorted order, documents are deduplicated by
hash of their normalised text, and the held-out split is chosen by a hash of the
document text (not by random state). Output (git-ignored):

  tools/train/.cache/corpus/<domain>.{train,heldout}.jsonl   one {"text": ...} per document
  tools/train/.cache/corpus/stats.json

Domains: en (English docs/prose), py (Python source), it (Italian), de (German),
sh (shell scripts and configuration files). See SOURCES.md for provenance/licences.
"""
import glob, gzip, hashlib, json, os, re, subprocess, sys, sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, ".cache", "corpus")
HELDOUT_FRAC = 0.05
MAX_BYTES = {"en": 8_000_000, "py": 8_000_000, "it": 8_000_000, "de": 8_000_000, "sh": 6_000_000}
MAX_DOC = 60_000  # split longer documents into pieces of about this size (at blank lines)


def read(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---------------------------------------------------------------- troff (man pages)
ESCAPES = [
    (r"\\f\[[^\]]*\]", ""), (r"\\f\(..", ""), (r"\\f.", ""), (r"\\s[+-]?\d+", ""),
    (r"\\\(aq", "'"), (r"\\\(dq", '"'), (r"\\\(lq", '"'), (r"\\\(rq", '"'), (r"\\\(oq", "'"),
    (r"\\\(cq", "'"), (r"\\\(em", "—"), (r"\\\(en", "–"), (r"\\\(bu", "•"), (r"\\\(co", "©"),
    (r"\\\(ti", "~"), (r"\\\(ha", "^"), (r"\\\(rs", "\\\\"), (r"\\\(..", ""), (r"\\\[[^\]]*\]", ""),
    (r"\\\*\(..", ""), (r"\\\*.", ""), (r"\\-", "-"), (r"\\e", "\\\\"), (r"\\&", ""), (r"\\\^", ""),
    (r"\\\|", ""), (r"\\ ", " "), (r"\\~", " "), (r"\\c", ""), (r"\\%", ""), (r"\\0", " "),
    (r"\\n\[[^\]]*\]", ""), (r"\\n.", ""), (r"\\[hv]'[^']*'", ""), (r"\\[:/,]", ""),
]
ESCAPES = [(re.compile(a), b) for a, b in ESCAPES]
KEEP_ARGS = {"SH", "SS", "B", "I", "BR", "BI", "IR", "IB", "RB", "RI", "TP", "IP", "SM", "SB",
             "Nm", "Nd", "Sh", "Ss", "Fl", "Ar", "Pa", "Xr", "Dv", "Em", "Cm", "Op", "It", "Ql", "Li"}


def detroff(src):
    out = []
    for line in src.split("\n"):
        if line.startswith(('.\\"', "'\\\"", '\\"')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            m = re.match(r"[.']\s*(\S+)\s*(.*)", line)
            if not m:
                continue
            req, args = m.group(1), m.group(2)
            if req in ("PP", "LP", "P", "sp", "br", "Pp", "Bl", "El"):
                out.append("")
                continue
            if req not in KEEP_ARGS or not args:
                continue
            args = args.replace('"', "")
            if req in ("BR", "BI", "IR", "IB", "RB", "RI"):
                args = re.sub(r"\s+", "", args) if False else args
            if req in ("SH", "Sh"):
                out.append("")
            line = args
        for rx, rep in ESCAPES:
            line = rx.sub(rep, line)
        line = line.replace("\\", "")
        out.append(line.rstrip())
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text


def man_docs(root):
    files = sorted(glob.glob(os.path.join(root, "man[1-8]", "*")))
    for p in files:
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        src = read(p)
        if not src or src.lstrip().startswith(".so "):
            continue
        t = detroff(src)
        if len(t) > 200:
            yield p, t


# ---------------------------------------------------------------- gettext catalogues
C_ESC = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "", "a": "", "b": "", "f": "", "v": ""}


def c_unescape(lit):
    lit = lit.strip()
    if not (lit.startswith('"') and lit.endswith('"')):
        return ""
    return re.sub(r"\\(.)", lambda m: C_ESC.get(m.group(1), m.group(1)), lit[1:-1])


def mo_docs(lang):
    files = sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo"))
    for p in files:
        try:
            po = subprocess.run(["msgunfmt", p], capture_output=True, check=True).stdout.decode("utf-8", "replace")
        except subprocess.CalledProcessError:
            continue
        msgs, cur, in_str = [], [], False
        for line in po.split("\n"):
            if line.startswith("msgstr"):
                in_str = True
                cur = [line.split(" ", 1)[1] if " " in line else '""']
            elif line.startswith('"') and in_str:
                cur.append(line)
            else:
                if in_str and cur:
                    s = "".join(c_unescape(c) for c in cur)
                    if s.strip():
                        msgs.append(s.strip())
                in_str, cur = False, []
        # drop the PO header entry and format-heavy one-word strings
        msgs = [m for m in msgs if not m.startswith("Project-Id-Version") and len(m) > 12]
        if msgs:
            yield p, "\n".join(msgs)


# ---------------------------------------------------------------- domain sources
def interleave(*gens):
    gens = list(gens)
    while gens:
        for g in list(gens):
            try:
                yield next(g)
            except StopIteration:
                gens.remove(g)


def python_docs():
    for p in sorted(glob.glob("/usr/share/doc/python3.11/html/_sources/**/*.rst.txt", recursive=True)):
        t = read(p)
        if t:
            yield p, t


def src_en():
    yield from interleave(python_docs(), man_docs("/usr/share/man"))


def src_py():
    stdlib = sysconfig.get_paths()["stdlib"]
    for p in sorted(glob.glob(os.path.join(stdlib, "**", "*.py"), recursive=True)):
        if "site-packages" in p or "/test" in p or "idlelib" in p or "lib2to3/tests" in p:
            continue
        t = read(p)
        if t and len(t) > 300:
            yield p, t


def src_lang(lang):
    def gen():
        yield from interleave(man_docs(f"/usr/share/man/{lang}"), mo_docs(lang))
    return gen


def is_shell(path):
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head.startswith(b"#!") and (b"sh" in head.split(b"\n")[0]) and b"python" not in head.split(b"\n")[0] and b"perl" not in head.split(b"\n")[0]


def src_sh():
    paths = []
    for d in ["/usr/bin", "/usr/sbin", "/usr/lib/git-core", "/usr/share/debconf", "/etc/init.d",
              "/etc/profile.d", "/usr/share/bash-completion/completions", "/usr/lib/dpkg",
              "/usr/share/doc", "/etc", "/var/lib/dpkg/info"]:
        for p in sorted(glob.glob(os.path.join(d, "**", "*"), recursive=True)):
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            base = os.path.basename(p)
            ok = is_shell(p) or d.endswith("completions") or base.endswith((".sh", ".conf", ".cfg", ".ini", ".postinst", ".preinst", ".postrm", ".prerm"))
            if d == "/etc" and not base.endswith((".conf", ".cfg", ".ini", "rc", ".sh")) and not is_shell(p):
                ok = ok
            if ok:
                paths.append(p)
    seen = set()
    for p in sorted(set(paths)):
        if os.path.getsize(p) > 400_000:
            continue
        t = read(p)
        if t and len(t) > 200:
            yield p, t


SOURCES = {"en": src_en, "py": src_py, "it": src_lang("it"), "de": src_lang("de"), "sh": src_sh}


def norm(t):
    t = t.replace("\r\n", "\n").replace("\t", "    ")
    t = re.sub(r"[ \u00a0]+\n", "\n", t)
    t = re.sub(r"\n{3,}", "\n\n", t)
    return t.strip() + "\n"


def split_doc(t):
    if len(t) <= MAX_DOC:
        return [t]
    parts, cur = [], []
    n = 0
    for para in t.split("\n\n"):
        cur.append(para)
        n += len(para) + 2
        if n >= MAX_DOC:
            parts.append("\n\n".join(cur).strip() + "\n")
            cur, n = [], 0
    if cur:
        parts.append("\n\n".join(cur).strip() + "\n")
    return parts


def main():
    os.makedirs(OUT, exist_ok=True)
    stats = {}
    for dom, gen in SOURCES.items():
        seen, train, held = set(), [], []
        nbytes, nfiles = 0, 0
        for path, text in gen():
            for piece in split_doc(norm(text)):
                h = hashlib.sha1(re.sub(r"\s+", " ", piece).encode()).hexdigest()
                if h in seen or len(piece) < 200:
                    continue
                seen.add(h)
                (held if int(h[:8], 16) / 2**32 < HELDOUT_FRAC else train).append(piece)
                nbytes += len(piece.encode())
            nfiles += 1
            if nbytes >= MAX_BYTES[dom]:
                break
        for name, docs in (("train", train), ("heldout", held)):
            with open(os.path.join(OUT, f"{dom}.{name}.jsonl"), "w") as f:
                for d in docs:
                    f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
        stats[dom] = {"files": nfiles, "bytes": nbytes, "train_docs": len(train), "heldout_docs": len(held),
                      "train_bytes": sum(len(d.encode()) for d in train), "heldout_bytes": sum(len(d.encode()) for d in held)}
        print(dom, stats[dom], flush=True)
    with open(os.path.join(OUT, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)


if __name__ == "__main__":
    main()
