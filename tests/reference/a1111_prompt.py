"""A reference of AUTOMATIC1111's prompt handling, written for sdcl's tests
from a description of the algorithm (parse_prompt_attention, the
FrozenCLIPEmbedderWithCustomWords chunking, "original" emphasis).  It feeds
diffusers through prompt_embeds, so sdcl's C implementation is checked
against an independent one.

Rules (sdcl's documented deviations from A1111 marked *):
  parse   regex lexemes: \\( \\) \\[ \\] \\\\ -> the character; a lone \\ -> nothing;
          ( [ open; ":" ws* [+-]?[.0-9]+ ws* ")" closes the innermost "(" with
          that weight (* when the number is no valid decimal the ":" is
          text; A1111 raises); ) ] close with 1.1 / (1/1.1) or are text when
          nothing is open; runs of other characters are text, split at
          ws* \\bBREAK\\b ws*.  Brackets left open multiply to the end.
          * BREAK is a mark of its own, so it breaks inside brackets too.
          Neighbouring text of equal weight merges.
  chunk   each piece tokenized alone (no BOS/EOS); chunks of 75; a full chunk
          whose last comma is at most 20 tokens back moves what follows the
          comma to the next chunk; BREAK closes the chunk; an embedding that
          does not fit closes it.  Closing: EOS up to 75, BOS + 75 + EOS, and
          after the first EOS the tokenizer's pad id where that is not EOS
          (a literal <|endoftext|> in the text is the first EOS then).
  encode  per chunk: z = encoder(ids); mean0 = z.mean(); z *= w; z *= mean0 / z.mean().
          The negative is padded with chunks of "" to the positive's count
          (and the other way round).
"""
import re

ROUND = 1.1
SQUARE = 1 / 1.1
CHUNK = 75
BACKTRACK = 20

_LEXEME = re.compile(r'''
    (?P<escape>\\[()\[\]\\]) |
    (?P<backslash>\\) |
    (?P<open>[(\[]) |
    (?P<weighted>:\s*(?P<number>[+-]?[.0-9]+)\s*\)) |
    (?P<close>[)\]]) |
    (?P<text>[^\\()\[\]:]+) |
    (?P<colon>:)
''', re.X)
_BREAK = re.compile(r'\s*\bBREAK\b\s*')


def _number(s):
    try:
        return float(s)
    except ValueError:
        return None


def parse(text, syntax='a1111'):
    """[(text, weight, is_break)]: is_break pieces have text None."""
    if syntax == 'plain':
        return [(text, 1.0, False)]
    res = []          # [text, weight, is_break]
    rounds, squares = [], []

    def multiply(start, factor):
        for p in res[start:]:
            p[1] *= factor

    def add_text(t):
        for i, part in enumerate(_BREAK.split(t)):
            if i:
                res.append([None, 1.0, True])
            res.append([part, 1.0, False])

    pos = 0
    while pos < len(text):
        m = _LEXEME.match(text, pos)
        kind = m.lastgroup if m.lastgroup != 'number' else 'weighted'
        s = m.group(0)
        if kind == 'weighted' and _number(m.group('number')) is None:
            m, kind, s = None, 'colon', ':'
        pos += len(s)
        if kind == 'escape':
            res.append([s[1], 1.0, False])
        elif kind == 'backslash':
            res.append(['', 1.0, False])
        elif kind == 'open':
            (rounds if s == '(' else squares).append(len(res))
        elif kind == 'weighted' and rounds:
            multiply(rounds.pop(), _number(m.group('number')))
        elif s == ')' and rounds:
            multiply(rounds.pop(), ROUND)
        elif s == ']' and squares:
            multiply(squares.pop(), SQUARE)
        else:
            add_text(s)
    for start in rounds:
        multiply(start, ROUND)
    for start in squares:
        multiply(start, SQUARE)
    if not res:
        res = [['', 1.0, False]]
    i = 0
    while i + 1 < len(res):
        a, b = res[i], res[i + 1]
        if not a[2] and not b[2] and a[1] == b[1]:
            a[0] += b[0]
            del res[i + 1]
        else:
            i += 1
    return [tuple(p) for p in res]


def tokens(tokenizer, text):
    return tokenizer(text, add_special_tokens=False, truncation=False)['input_ids']


def chunks(tokenizer, text, syntax='a1111', embeddings=None, pad_id=None):
    """[(ids[77], weights[77], fixes{position: (name, vector index)})].
    embeddings: {name: n_vectors}."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if pad_id is None else pad_id
    comma = tokenizer.get_vocab().get(',</w>')
    known = [(tokens(tokenizer, name), name, n) for name, n in (embeddings or {}).items()]
    out = []
    cur = {'ids': [], 'w': [], 'fix': {}, 'comma': -1}

    def close():
        ids = cur['ids'] + [eos] * (CHUNK - len(cur['ids']))
        w = cur['w'] + [1.0] * (CHUNK - len(cur['w']))
        ids = [bos] + ids + [eos]
        if pad_id != eos:   # A1111 pads only where its pad is not EOS
            first = ids.index(eos)
            ids = ids[:first + 1] + [pad_id] * (len(ids) - first - 1)
        out.append((ids, [1.0] + w + [1.0], {p + 1: f for p, f in cur['fix'].items()}))
        cur.update(ids=[], w=[], fix={}, comma=-1)

    def find(ids, at):
        best = None
        for kids, name, n in known:
            if kids and ids[at:at + len(kids)] == kids and (best is None or len(kids) > len(best[0])):
                best = (kids, name, n)
        return best

    for text_piece, weight, is_break in parse(text, syntax):
        if is_break:
            close()
            continue
        ids = tokens(tokenizer, text_piece)
        at = 0
        while at < len(ids):
            n = len(cur['ids'])
            if ids[at] == comma:
                cur['comma'] = n
            elif n == CHUNK and cur['comma'] != -1 and n - cur['comma'] <= BACKTRACK:
                keep = cur['comma'] + 1
                moved = (cur['ids'][keep:], cur['w'][keep:],
                         {p - keep: f for p, f in cur['fix'].items() if p >= keep})
                cur['ids'], cur['w'] = cur['ids'][:keep], cur['w'][:keep]
                cur['fix'] = {p: f for p, f in cur['fix'].items() if p < keep}
                close()
                cur['ids'], cur['w'], cur['fix'] = list(moved[0]), list(moved[1]), moved[2]
            if len(cur['ids']) == CHUNK:
                close()
            e = find(ids, at)
            if e is None:
                cur['ids'].append(ids[at])
                cur['w'].append(weight)
                at += 1
                continue
            kids, name, nvec = e
            if len(cur['ids']) + nvec > CHUNK:
                close()
            for v in range(nvec):
                cur['fix'][len(cur['ids'])] = (name, v)
                cur['ids'].append(0)
                cur['w'].append(weight)
            at += len(kids)
    if cur['ids'] or not out:
        close()
    return out


def pad_chunks(tokenizer, cs, n, pad_id=None):
    empty = chunks(tokenizer, '', 'plain', pad_id=pad_id)[0]
    return cs + [empty] * (n - len(cs))


def encode(text_encoder, cs, vectors=None, penultimate=False):
    """Concatenated states [1, 77 * len(cs), D].  vectors: {name: tensor [n, D].
    Each chunk's last_hidden_state (sdcl's tests use no clip skip here);
    with penultimate (SDXL, each tower on its own), hidden_states[-2] and
    the first chunk's text_embeds: (states, pooled [1, P])."""
    import torch
    emb = text_encoder.get_input_embeddings()
    outs, pooled = [], None
    for ids, w, fix in cs:
        def hook(module, args, output, fix=fix):
            output = output.clone()
            for p, (name, v) in fix.items():
                output[0, p] = vectors[name][v].to(output.dtype)
            return output
        handle = emb.register_forward_hook(hook)
        try:
            out = text_encoder(torch.tensor([ids]), output_hidden_states=penultimate)
        finally:
            handle.remove()
        z = out.hidden_states[-2] if penultimate else out.last_hidden_state
        if penultimate and pooled is None:
            pooled = getattr(out, 'text_embeds', None)
        weights = torch.tensor(w, dtype=torch.float32).reshape(1, -1, 1)
        if (weights != 1).any():
            mean0 = z.mean()
            z = z * weights
            z = z * (mean0 / z.mean())
        outs.append(z)
    states = torch.cat(outs, dim=1)
    return (states, pooled) if penultimate else states
