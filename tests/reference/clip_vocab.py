"""Writes CLIP's vocab.json and merges.txt from the BPE merges file sdcl installs.

The construction is CLIP's: the 256 byte symbols (in byte-to-unicode order),
the same with "</w>", one token per merge (lines 1..48894 of the merges file),
then <|startoftext|> and <|endoftext|>: 49408 ids.  transformers' CLIPTokenizer
loaded from these two files is the reference the C tokenizer is compared to.
"""
import gzip
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_GZ = os.path.join(HERE, '..', '..', 'data', 'clip', 'bpe_simple_vocab_16e6.txt.gz')
N_MERGES = 49152 - 256 - 2


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + \
        list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_tokenizer_files(out_dir, gz_path=DEFAULT_GZ):
    os.makedirs(out_dir, exist_ok=True)
    lines = gzip.open(gz_path, 'rt', encoding='utf-8').read().split('\n')
    merges = [tuple(line.split()) for line in lines[1:1 + N_MERGES]]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + '</w>' for v in vocab]
    vocab += [''.join(m) for m in merges]
    vocab += ['<|startoftext|>', '<|endoftext|>']
    with open(os.path.join(out_dir, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump({tok: i for i, tok in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(out_dir, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n')
        for a, b in merges:
            f.write('%s %s\n' % (a, b))
    return out_dir


if __name__ == '__main__':
    import sys
    write_tokenizer_files(sys.argv[1])
