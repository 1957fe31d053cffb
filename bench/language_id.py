"""Language identification accuracy of ovsub on the shared non-English clips (one figure for issue 2).

    python bench/language_id.py [--data ../shared/data] [--model base] [--precision int8]

Runs GenAI's detection (one encoder pass and one decoder step per clip, through ovsub's engine) on every
clip in one known non-English language and prints the share detected right, per language and overall.
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

from ovsub.audio import media
from ovsub.evaluation import non_english
from ovsub.options import ModelOptions
from ovsub.transcription import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--model", default="base")
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args()
    model = load_model(ModelOptions(name=args.model, precision=args.precision), word_timestamps=False)
    right: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    wrong = []
    started = time.monotonic()
    for clip in non_english(Path(args.data)):
        language = model.detect_language(media.load_audio(clip.path)).language
        total[clip.language] += 1
        if language == clip.language:
            right[clip.language] += 1
        else:
            wrong.append(f"{clip.path.relative_to(args.data)}: {clip.language} detected as {language}")
    print("| language | right | clips |\n|---|---|---|")
    for lang in sorted(total):
        print(f"| {lang} | {right[lang]} | {total[lang]} |")
    n_right, n = sum(right.values()), sum(total.values())
    print(f"| **all** | **{n_right}** | **{n}** ({100 * n_right / n:.1f} %) |")
    print(f"\n{len(wrong)} wrong" + (": " + "; ".join(wrong) if wrong else ""), f"({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
