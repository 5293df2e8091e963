#!/usr/bin/env bash
# Build gpu_carry/ (git-ignored): what bench/gpu_session.py needs on a lent GPU machine, where
# ../shared does not travel and nothing can be downloaded. Name it in the device tool's `carry`.
#
#   bash bench/make_gpu_carry.sh             # benchmarks only (speed session): ~8 MB
#   bash bench/make_gpu_carry.sh --pretrain  # also runs/tokenizer-30k and runs/data-30k, xz-packed
#
# The working tree and the carry travel together under a 64 MiB limit.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${ALBERT_SHARED_DATA:-../shared/data}
carry=gpu_carry
grep -qx '/gpu_carry/' .git/info/exclude 2>/dev/null || echo '/gpu_carry/' >> .git/info/exclude
rm -rf "$carry"
mkdir -p "$carry/shared-data/albert-vocab" "$carry/shared-data/sst2" "$carry/shared-data/corpus" "$carry/site"
cp "$shared/albert-vocab/spiece.model" "$carry/shared-data/albert-vocab/"
cp "$shared/sst2/train.tsv" "$carry/shared-data/sst2/"
cp "$shared/corpus/wordnet_glosses.txt.xz" "$shared/corpus/kjv_bible.txt.xz" "$carry/shared-data/corpus/"
# blingfire's sentence splitter (albert.sentences) needs no model files: leave the 50 MB out.
site=$(python3 -c 'import blingfire, os; print(os.path.dirname(blingfire.__file__))' 2>/dev/null \
       || .venv/bin/python -c 'import blingfire, os; print(os.path.dirname(blingfire.__file__))')
mkdir -p "$carry/site/blingfire"
find "$site" -maxdepth 1 -type f \( -name '*.py' -o -name '*.so' \) -exec cp {} "$carry/site/blingfire/" \;
if [[ "${1:-}" == "--pretrain" ]]; then
  if [[ ! -d runs/tokenizer-30k || ! -d runs/data-30k ]]; then
    echo "--pretrain needs runs/tokenizer-30k and runs/data-30k; make them (about 4 minutes) with:" >&2
    echo "  albert train-tokenizer ../shared/data/corpus --out runs/tokenizer-30k --vocab-size 30000" >&2
    echo "  albert prepare-data ../shared/data/corpus --tokenizer runs/tokenizer-30k --out runs/data-30k" >&2
    exit 1
  fi
  tar -cJf "$carry/pretrain-inputs.tar.xz" -C runs tokenizer-30k data-30k
fi
du -sh "$carry"
