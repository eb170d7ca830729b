"""Writes the golden CLIP token ids the C tokenizer is compared to.

The reference is transformers' CLIPTokenizer loaded (as diffusers loads a
tokenizer/ folder) from the vocab.json and merges.txt that clip_vocab.py
builds from the vocabulary sdcl installs.  For every prompt the golden file
holds the ids without BOS/EOS or truncation ("ids") and the 77 ids diffusers
feeds the text encoder ("input_ids": padding="max_length", truncation).

Prompts are stored as text, or as hex bytes when they are not valid UTF-8;
those are decoded with errors="replace" before tokenizing, which is what the C
tokenizer promises to match.

Note: in transformers 5.x, CLIPTokenizer(vocab_file=..., merges_file=...)
silently ignores both files (the arguments are now `vocab` and `merges`);
from_pretrained() on the folder is the faithful reference.

It also writes, for every code point, how the reference's normaliser and
pre-tokenizer see it on its own (golden/tokenizer_unicode.json): its class
(letter, number, whitespace or other symbol, by counting the pieces the
pre-tokenizer makes of "a" + c, "!" + c and c) as runs, and the normalised
text of every code point that normalisation changes.

Usage: gen_tokens.py [OUTPUT_DIR]
"""
import json
import os
import sys
import tempfile

import tokenizers
import transformers
from transformers import CLIPTokenizer

from clip_vocab import write_tokenizer_files

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT_DIR = os.path.join(HERE, 'fixtures', 'golden')
CONTEXT = 77
PAD_ID = 49407  # SD 1.x pads with <|endoftext|>


def long_prompt(n_chars):
    """About n_chars of varied prompt text: words, weights, numbers, unicode."""
    parts = ['a highly detailed matte painting of', 'ancient ruins,', '(masterpiece:1.2),',
             'Größe', 'café', '東京タワー', 'неон', '8k uhd,', "artist's", 'trending on',
             'artstation!!!', '🌅', 'v2.1', '--no', 'blur', '  ']
    out, i = [], 0
    while sum(len(p) + 1 for p in out) < n_chars:
        out.append(parts[i % len(parts)])
        i += 1
    return ' '.join(out)[:n_chars]


OVER_LONG = ('a breathtaking panoramic view of a futuristic city at sunset, towering glass '
             'skyscrapers with hanging gardens, flying cars weaving between buildings, neon '
             'signs reflecting on wet streets, crowds of people with umbrellas, intricate '
             'details, volumetric lighting, cinematic composition, ultra realistic, 8k, '
             'octane render, by greg rutkowski and alphonse mucha, trending on artstation, '
             'award winning photograph, sharp focus, depth of field, bokeh')

# (name, prompt); a bytes prompt is raw, possibly invalid, UTF-8.
PROMPTS = [
    ('plain', 'a photo of an astronaut riding a horse on mars'),
    ('mixed case', 'A Photo Of A CAT wearing SunGlasses'),
    ('punctuation', 'Hello, World!!! Is this... real??? ;-) (yes/no) "quoted" [x]'),
    ('weights syntax', '((((masterpiece)))), [[best quality]], (ultra-detailed:1.2), '
                       '{bokeh}, <lora:foo_bar-v2:0.8>'),
    ('accents', 'café crème brûlée, naïve façade, São Paulo, Ångström, jalapeño'),
    ('german umlauts', 'Größe ÜBERMÄSSIG schöne Straße ÄÖÜ äöüß'),
    ('nfd combining', 'cafe\u0301 cre\u0300me bru\u0302le\u0301e A\u030angstro\u0308m'),
    ('non-composing marks', 'a\u0301\u0327 x\u0308 q\u0323\u0307 \u0301alone'),
    ('chinese', '一只猫坐在窗台上，水墨画风格，高清'),
    ('japanese', '東京の夜景、ネオン、サイバーパンク、ｶﾀｶﾅ'),
    ('korean', '서울의 밤거리, 네온사인, 비 오는 날'),
    ('hangul jamo nfd', '\u1112\u1161\u11ab\u1100\u1173\u11af and \u1109\u1165\u110b\u116e\u11af'),
    ('cyrillic', 'Кот в сапогах, ЗИМНИЙ лес, ёлка Ёж'),
    ('greek sigma', 'ΟΔΥΣΣΕΥΣ Σίσυφος ΣΑΣ σας'),
    ('turkish dotted i', 'İSTANBUL Iğdır İi ıI'),
    ('emoji', 'a cute dog 🐶🐕\u200d🦺 with hearts ❤️💕 and flags 🇯🇵🏳️\u200d🌈 👍🏽'),
    ('arabic hebrew', 'مرحبا بالعالم ١٢٣ שָׁלוֹם'),
    ('devanagari thai', 'नमस्ते दुनिया สวัสดีครับ'),
    ('contractions', "don't it's we're they've I'm you'll she'd 's 't 're"),
    ('upper contractions', "DON'T IT'S WE'RE THEY'VE I'M YOU'LL SHE'D"),
    ('apostrophes', "rock'n'roll 'quoted' ''s '''sa x's ’s curly’s it`s"),
    ('numbers', '1234 3.14 1,000,000 -42 +7e10 2023-10-05 12:30'),
    ('unicode numbers', '½ ² ³ ⅓ Ⅻ ⅳ ① ⑳ ١٢٣ ४२ 𝟘𝟙 ¼cup'),
    ('circled and roman', 'Ⓐⓑ ⒸⒹ ⅫⅣ ⅿ'),
    ('digits in words', '4k 8k uhd 1080p h264 v1.5 sd15 r2d2 x86_64'),
    ('symbol runs', '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!! ########### ----->>>>> ~~~~ '
                    '.......... $$$ %%% ^^^ &&& *** @@@ |||'),
    ('whitespace', '  multiple   spaces\tand\t\ttabs\nand\n\nnewlines \r\n crlf  '),
    ('unicode whitespace', 'a\u00a0b\u2003c\u3000d\u200be\u0085f\u000bg\u001ch\u2028i\u202fj'),
    ('leading trailing', '   leading and trailing   '),
    ('empty', ''),
    ('only spaces', '     \t\n  \u3000 '),
    ('special tokens', '<|startoftext|>a photo<|endoftext|> of <|endoftext|><|startoftext|>x'),
    ('special lookalikes', '<|STARTOFTEXT|> !<|endoftext|>!! <|endoftext <endoftext|> '
                           '<|startoftext |>'),
    ('over long', OVER_LONG),
    ('very long word', 'a' * 300 + 'supercalifragilisticexpialidocious' * 5),
    ('url email', 'https://example.com/path?q=1&x=y user.name@example.org'),
    ('code', 'x = f(y) + 2 * z; // comment /* block */ #include <stdio.h>'),
    ('control chars', 'tab\x01soh\x7fdel\u200bzwsp\ufeffbom\x1bescape'),
    ('fullwidth', 'ＡＢＣ１２３！？ ＨＥＬＬＯ'),
    ('ligatures', 'ﬁne ﬂow ﬀ Æsir œuvre'),
    ('math', '∑∫√∞ ≤≥ α+β=γ x²+y²=z² ∀x∃y'),
    ('mixed scripts', 'naïveté東京abc123def Привет123мир'),
    ('cjk punctuation', '「こんにちは」。『世界』！…'),
    ('private and new', '\ue000 \U0001F600 \u00ad soft\u00adhyphen'),
    ('invalid utf-8', b'caf\xc3 \xff\xfe ok \xe2\x82 end \xed\xa0\x80 \xf4\x90\x80\x80 '
                      b'\xc0\xaf \xf0\x9f\x90 x\x80y'),
    ('truncated sequence at end', b'emoji \xf0\x9f\x98'),
    ('long prompt 10000 chars', long_prompt(10000)),
]


def case_entry(tok, name, prompt):
    if isinstance(prompt, bytes):
        text = prompt.decode('utf-8', errors='replace')
        entry = {'name': name, 'prompt_utf8_hex': prompt.hex()}
    else:
        text = prompt
        entry = {'name': name, 'prompt': prompt}
    ids = tok(text, add_special_tokens=False).input_ids
    input_ids = tok(text, padding='max_length', max_length=CONTEXT, truncation=True).input_ids
    assert len(input_ids) == CONTEXT, name
    entry['ids'] = ids
    entry['input_ids'] = input_ids
    if len(ids) <= CONTEXT:
        entry['tokens'] = tok.convert_ids_to_tokens(ids)
    return entry


def write_tokens(tok, path):
    cases = [case_entry(tok, name, prompt) for name, prompt in PROMPTS]
    golden = {
        'generator': 'tests/reference/gen_tokens.py',
        'reference': 'CLIPTokenizer.from_pretrained(folder written by clip_vocab.py)',
        'transformers': transformers.__version__,
        'tokenizers': tokenizers.__version__,
        'context': CONTEXT,
        'pad_id': PAD_ID,
    }
    with open(path, 'w', encoding='utf-8') as f:
        f.write('{\n')
        for key, value in golden.items():
            f.write('  %s: %s,\n' % (json.dumps(key), json.dumps(value)))
        f.write('  "cases": [\n')
        f.write(',\n'.join('    ' + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write('\n  ]\n}\n')
    print('%s: %d prompts' % (path, len(cases)))


def code_point_class(pre_tokenizer, ch):
    def pieces(text):
        return len(pre_tokenizer.pre_tokenize_str(text))
    if pieces(ch) == 0:
        return 'W'  # \s: dropped
    if pieces('a' + ch) == 1:
        return 'L'  # joins a run of letters
    if pieces('!' + ch) == 1:
        return 'S'  # joins a run of other symbols
    return 'N'      # a piece of its own


def write_unicode(tok, path):
    normalizer = tok.backend_tokenizer.normalizer
    pre_tokenizer = tok.backend_tokenizer.pre_tokenizer
    runs, normalized, previous = [], {}, None
    for c in range(1, 0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue  # not scalar values: never reach the tokenizer
        ch = chr(c)
        cls = code_point_class(pre_tokenizer, ch)
        if cls != previous:
            runs.append([c, cls])
            previous = cls
        text = normalizer.normalize_str(ch)
        if cls != 'W' and text != ch:
            normalized['%X' % c] = [ord(x) for x in text]
    golden = {
        'generator': 'tests/reference/gen_tokens.py',
        'transformers': transformers.__version__,
        'tokenizers': tokenizers.__version__,
        'class_runs': runs,
        'normalized': normalized,
    }
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(golden, f, separators=(',', ':'))
        f.write('\n')
    print('%s: %d class runs, %d normalised code points' % (path, len(runs), len(normalized)))


def main():
    output_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT_DIR
    with tempfile.TemporaryDirectory() as folder:
        write_tokenizer_files(folder)
        tok = CLIPTokenizer.from_pretrained(folder)
    assert tok.pad_token_id == PAD_ID
    os.makedirs(output_dir, exist_ok=True)
    write_tokens(tok, os.path.join(output_dir, 'tokens.json'))
    write_unicode(tok, os.path.join(output_dir, 'tokenizer_unicode.json'))


if __name__ == '__main__':
    main()
