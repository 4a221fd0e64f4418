"""A summary without a model, built from sentences of the abstract.

Used when no LLM is configured and when the model fails after its retries, so a digest
still goes out. It only selects and shortens the authors' own sentences (never rewrites
them), so it is in the abstract's language whatever the chat's; callers mark it as
extractive wherever it is shown.

Each sentence gets one role by its cue words and position (background, the problem with
earlier work, method, result, conclusion) and is used once: the one-liner is the sentence
that says what the paper does (its method or contribution), the takeaways are the next
strongest, and the structured fields get the rest. So a reader who opens the card and then
the full summary reads every sentence once, and the whole is never longer than the abstract.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

SUMMARY_MAX = 100
FIELD_MAX = 600
TAKEAWAY_MAX = 220
ROLES = ("background", "past_methods", "method", "results", "conclusion")

_ABBREV = re.compile(r"\b(e\.g|i\.e|et al|etc|vs|cf|Fig|Figs|Eq|Eqs|Sec|Tab|resp|approx|no)\.$", re.I)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

_METHOD = re.compile(
    r"\b(we (propose|present|introduce|develop|design|devise|build|construct|release|formulate|"
    r"contribute|study|investigate|explore|analy[sz]e|describe|address|tackle|leverage|curate|collect)|"
    r"(this|our) (paper|work|study|article) (proposes|presents|introduces|develops|describes|studies|"
    r"investigates|explores|surveys|reviews|provides|offers)|in this (paper|work|survey|study)|"
    r"(our|the proposed) (method|approach|model|framework|system|pipeline|technique|dataset|benchmark)|"
    r"we (first|then|further|also|additionally) (propose|present|introduce|develop|design)|"
    r"(to this end|specifically|to address (this|these))\b)",
    re.I,
)
_CONTRIBUTION = re.compile(
    r"\b(we (propose|present|introduce|develop|design|devise|release|contribute|curate|provide|"
    r"characteri[sz]e|offer|build|construct|formulate|establish)|"
    r"(this|our) (paper|work|survey|article|study) (proposes|presents|introduces|develops|surveys|reviews|"
    r"provides|describes|studies|investigates|explores|offers)|"
    r"in this ([\w-]+ )?(paper|work|survey|study)|we (first|then) (propose|present|introduce))\b",
    re.I,
)
# "we" doing something (not arguing about others or reporting an outcome): the paper's own work
_WE_DO = re.compile(r"\bwe (?!argue|believe|observe|note|find|found|show|hope|know|can|could|may|might)[a-z]+", re.I)
_PAST = re.compile(
    r"\b(however|yet|but|although|though|despite|existing|previous|prior|current (methods|approaches)|"
    r"conventional|traditional|limit(ed|s|ation\w*)|struggl\w*|fail\w*|suffer\w*|lack\w*|"
    r"remains? (a |an )?(challeng\w*|difficult|unclear|open)|challeng\w*|difficult|costly|expensive)\b",
    re.I,
)
_RESULT = re.compile(
    r"(\d+(\.\d+)?\s*(%|x\b|×|fps|ms\b|db\b|times)|\b(outperform\w*|state[- ]of[- ]the[- ]art|sota|"
    r"experiments?|experimental|results? (show|demonstrate|indicate|suggest)|we (show|demonstrate|find|"
    r"observe)|achiev\w*|surpass\w*|evaluat\w*|superior|improv(es|ed|ement\w*)|compar(ed|ison\w*)|"
    r"extensive|qualitative\w*|quantitative\w*|ablation\w*)\b)",
    re.I,
)
_CONCLUSION = re.compile(
    r"\b(we (believe|hope|envision|conclude|discuss)|in (summary|conclusion)|overall|future (work|research|"
    r"directions?)|opens? (up )?(new|the)|paves? the way|finally|lastly|insights?|implications?)\b",
    re.I,
)
_LINK_ONLY = re.compile(
    r"(https?://|www\.|github\.com|[\w-]+\.github\.io|project (website|page)|\b(code|data|dataset|models?|project page|website|videos?|demo)\b[^.]{0,60}"
    r"\b(is|are|will be|can be|be) (publicly |made |freely )?(available|released|found|accessible)\b|"
    r"^(project|code|page|website|videos?)\s*:)",
    re.I,
)
_STOPWORDS = """a an the of for and or to in on with from by via at as is are be been being was were we our us
this that these those its it it's using based towards toward into over under than such has have had not also
more most both between while when where how what which who whose can could may might will would should must
their them they there here each every all any some many much other another only just very well so thus hence
however yet but although though because since if then than do does did done new novel approach approaches
method methods paper papers work works propose proposed proposes present presents presented introduce
introduces introduced show shows shown demonstrate demonstrates result results experiments experiment
extensive existing previous prior first second third one two three several various different further
significant significantly large small high low better best state art achieve achieves achieving given
without within across through about against among make makes made allows allow enabling enable enables
provide provides providing use uses used task tasks problem problems via often recently recent way ways
including include includes e.g i.e et al etc while whereas moreover additionally furthermore specifically
able due like even still whether same able learning data model models"""
_STOP = frozenset(_STOPWORDS.split())
_GENERIC = """framework system technique performance quality effectiveness generation image images video videos
network networks training inference time object objects scene scenes representation representations
input output information process approach analysis study"""
_GENERIC_SINGLE = frozenset(_GENERIC.split())

# LaTeX a model never sees but an abstract often carries: commands with a text equivalent
_LATEX_SYMBOLS = {
    r"\sim": "~", r"\approx": "≈", r"\times": "×", r"\pm": "±", r"\leq": "≤", r"\le": "≤", r"\geq": "≥",
    r"\ge": "≥", r"\neq": "≠", r"\rightarrow": "→", r"\to": "→", r"\leftarrow": "←", r"\infty": "∞",
    r"\cdot": "·", r"\circ": "°", r"\degree": "°", r"\alpha": "α", r"\beta": "β", r"\gamma": "γ",
    r"\delta": "δ", r"\epsilon": "ε", r"\lambda": "λ", r"\mu": "μ", r"\sigma": "σ", r"\theta": "θ",
    r"\pi": "π", r"\ell": "ℓ", r"\%": "%", r"\&": "&", r"\#": "#", r"\_": "_", r"\$": "$",
    r"\textasciitilde": "~", r"\ldots": "…", r"\dots": "…",
}  # fmt: skip
_LATEX_WRAPPERS = re.compile(
    r"\\(?:text(?:bf|it|tt|rm|sc|sf|normal)?|emph|mathrm|mathbf|mathit|mathcal|mathbb|operatorname|"
    r"textsc|underline|mbox|url|href\{[^}]*\})\s*\{([^{}]*)\}"
)


def latex_to_text(text: str) -> str:
    """Inline LaTeX as plain text: ``$\\sim$10\\%`` → ``~10%``, ``\\textbf{X}`` → ``X``, ``$x^2$`` → ``x^2``."""
    if "\\" not in text and "$" not in text:
        return text
    for _ in range(3):  # nested wrappers: \textbf{\emph{x}}
        text = _LATEX_WRAPPERS.sub(r"\1", text)
    for cmd in sorted(_LATEX_SYMBOLS, key=len, reverse=True):
        tail = r"(?![A-Za-z])\s?" if cmd[-1].isalpha() else ""  # "\sim 10" → "~10", "\% faster" keeps its space
        text = re.sub(re.escape(cmd) + tail, _LATEX_SYMBOLS[cmd].replace("\\", r"\\"), text)
    text = re.sub(r"(?<!\\)\$([^$]{0,80})\$", r"\1", text)  # math mode delimiters
    text = re.sub(r"\\[a-zA-Z]+\s*", "", text)  # commands without a plain equivalent
    text = re.sub(r"[{}]", "", text)
    text = re.sub(r"~(?=\s)", "", text)  # a LaTeX non-breaking space left before a word
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, not split after "e.g.", "et al.", "Fig." or inside numbers."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if not text:
        return []
    parts = re.split(r"(?<=[.!?。！？])\s+(?=[A-Z0-9\"'(\[\u4e00-\u9fff])|(?<=[。！？])", text)
    out: list[str] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if out and (_ABBREV.search(out[-1]) or len(out[-1]) < 12):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word (or clause) boundary with "…"."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for sep in ("; ", ", ", " "):
        pos = cut.rfind(sep)
        if pos > limit * 0.6:
            cut = cut[:pos]
            break
    return cut.rstrip(" ,;:-") + "…"


def role_of(sentence: str, index: int, count: int, method_at: int | None) -> str:
    """One role per sentence: cue words first, then position relative to the first method sentence."""
    if _LINK_ONLY.search(sentence) and len(sentence) < 200:
        return "drop"  # code and project links are shown as links, not as a sentence
    before = method_at is not None and index < method_at
    if method_at is not None and index == method_at:
        return "method"
    if _CONCLUSION.search(sentence) and (index >= count - 2):
        return "conclusion"
    if before or (method_at is None and index == 0):
        return "past_methods" if index > 0 and _PAST.search(sentence) else "background"
    if _RESULT.search(sentence) and not _CONTRIBUTION.search(sentence):
        return "results"
    if _METHOD.search(sentence):
        return "method"
    if index == count - 1 and count > 2:
        return "conclusion"
    if method_at is None and _PAST.search(sentence):
        return "past_methods"
    return "method"


def _first_method(sentences: list[str]) -> int | None:
    """Where the paper's own work starts: the first contribution sentence ("we propose"), or an
    earlier sentence where "we" do something that is not about earlier work."""
    contribution = next((i for i, s in enumerate(sentences) if _CONTRIBUTION.search(s)), None)
    doing = next(
        (i for i, s in enumerate(sentences) if _WE_DO.search(s) and not s.endswith("?")),
        None,
    )
    found = [i for i in (contribution, doing) if i is not None]
    if found:
        return min(found)
    return next((i for i, s in enumerate(sentences) if _METHOD.search(s)), None)


def _weight(sentence: str, role: str) -> float:
    """How much a sentence is worth as a takeaway: results and method details first."""
    score = {"results": 3.0, "method": 2.5, "past_methods": 1.5, "conclusion": 1.0, "background": 0.5}.get(role, 0)
    if re.search(r"\d+(\.\d+)?\s*(%|x\b|×|fps|ms\b|db\b|times)", sentence, re.I):
        score += 1.5
    if re.search(r"\b(outperform\w*|state[- ]of[- ]the[- ]art|surpass\w*|first)\b", sentence, re.I):
        score += 1.0
    if len(sentence) < 40:
        score -= 1.0
    if len(sentence) > 350:
        score -= 0.5
    return score


def _one_liner(sentence: str) -> str:
    """The contribution sentence as the one-liner: its lead-in ("In this paper, we") dropped."""
    text = re.sub(r"^[^,;]{2,80}?,\s+(?=we\b)", "", sentence, flags=re.I)  # "Motivated by this, we …"
    text = re.sub(r"^(in this (paper|work|study|survey)|here|to this end)\s*,\s*", "", text, flags=re.I)
    text = text[:1].upper() + text[1:]
    return shorten(text, SUMMARY_MAX)


def _clauses(sentence: str) -> list[str]:
    parts = [p.strip() for p in re.split(r";\s+|,\s+(?=(?:and|but|while|which|whereas)\s)|:\s+", sentence)]
    return [p for p in parts if len(p) >= 8] or [sentence]


def keywords(title: str, abstract: str, most: int = 6) -> list[str]:
    """Terms of the title and abstract: multi-word phrases that recur or stand in the title, and
    names (acronyms, CamelCase), never a lone generic word."""
    title_text = latex_to_text(title)
    phrases: Counter[str] = Counter()
    shown: dict[str, str] = {}
    in_title: set[str] = set()
    for source, weight in ((title_text, 3), (latex_to_text(abstract), 1)):
        source = re.sub(r"['’]s\b", "", source)
        for chunk in re.split(r"[.,;:()\[\]!?\"“”]|\s-\s|\s—\s", source):
            words = re.findall(r"[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9]|[A-Za-z]", chunk)
            run: list[str] = []
            for w in [*words, ""]:
                if w and w.lower() not in _STOP and not w.isdigit():
                    run.append(w)
                    continue
                for n in (3, 2, 1):
                    for i in range(len(run) - n + 1):
                        gram = run[i : i + n]
                        key = " ".join(g.lower() for g in gram)
                        phrases[key] += weight
                        shown.setdefault(key, " ".join(g if _is_name(g) else g.lower() for g in gram))
                        if weight > 1:
                            in_title.add(key)
                run = []

    def score(key: str) -> float:
        n = key.count(" ") + 1
        base = phrases[key] * (1.0 + 0.6 * (n - 1))
        return base + (2.0 if key in in_title else 0.0)

    candidates = []
    for key, count in phrases.items():
        n = key.count(" ") + 1
        single_name = n == 1 and _is_name(shown[key]) and len(key) >= 3
        if n == 1 and not single_name:
            continue
        if n == 1 and key in _GENERIC_SINGLE:
            continue
        if count < 2 and key not in in_title:
            continue
        candidates.append(key)
    picked: list[str] = []
    for key in sorted(candidates, key=lambda k: (-score(k), k)):
        if len(picked) >= most:
            break
        words = set(key.split())
        if any(key in p or p in key or len(words & set(p.split())) >= 2 for p in picked):
            continue  # "hyperbolic attention network" after "dynamic hyperbolic attention"
        picked.append(key)
    return [shown[k] for k in picked]


def _is_name(word: str) -> bool:
    """An acronym or a coined name (NeRF, DragAnything, 3D, GPT-4), kept in its own case."""
    return any(re.search(r"[a-z][A-Z]|^[A-Z0-9]{2,}s?$|\d", part) for part in word.split("-"))


def extract(title: str, abstract: str) -> dict[str, Any]:
    """The summary fields from the abstract alone (see module docstring)."""
    title = latex_to_text(title)
    sentences = list(dict.fromkeys(split_sentences(latex_to_text(abstract))))
    empty = {name: "" for name in ROLES}
    if not sentences:
        return {
            "summary": shorten(title, SUMMARY_MAX),
            "key_takeaways": [],
            **empty,
            "keywords": keywords(title, ""),
        }
    if len(sentences) < 3:  # too short to spread over a card and sections: use its clauses
        clauses = [c for s in sentences for c in _clauses(s)]
        sentences = list(dict.fromkeys(clauses))
    method_at = _first_method(sentences)
    roles = [role_of(s, i, len(sentences), method_at) for i, s in enumerate(sentences)]
    kept = [i for i, r in enumerate(roles) if r != "drop"] or list(range(len(sentences)))

    # the one-liner: what the paper does (its contribution), else the first method sentence
    lead = method_at if method_at is not None and method_at in kept else None
    if lead is None:
        lead = next((i for i in kept if roles[i] == "method"), kept[0])
    rest = [i for i in kept if i != lead]

    want = min(5, max(3, len(rest) // 2)) if len(rest) >= 3 else len(rest)
    ranked = sorted(rest, key=lambda i: (-_weight(sentences[i], roles[i]), i))[:want]
    takeaways = [shorten(sentences[i], TAKEAWAY_MAX) for i in sorted(ranked)]

    fields = {name: [] for name in ROLES}
    for i in rest:
        if i not in ranked:
            fields[roles[i] if roles[i] in fields else "method"].append(sentences[i])
    return {
        "summary": _one_liner(sentences[lead]),
        "key_takeaways": takeaways,
        **{name: shorten(" ".join(parts), FIELD_MAX) for name, parts in fields.items()},
        "keywords": keywords(title, abstract),
    }


def takeaways(sentences: list[str], most: int = 7) -> list[str]:
    """The abstract's strongest sentences in its order (kept for callers that want bullets only)."""
    joined = " ".join(sentences)
    return extract("", joined)["key_takeaways"][:most]


def language_of(text: str) -> str:
    """Return "zh" when most letters of ``text`` are CJK, else "en" (the abstract's language)."""
    cjk = len(_CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if cjk and cjk >= latin else "en"
