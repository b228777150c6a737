#!/usr/bin/env python3
"""Copy a category-balanced subset of a labelled catalogue into dataset/.

Usage: python3 dataset/make_subset.py SOURCE [--per-category N] [--min-category M]

SOURCE is a catalogue folder with `images/<id>.jpg` and `labels.csv` (columns
file, gender, masterCategory, subCategory, articleType, ...). For every
articleType with at least M images, the N images with the lowest ids are
copied to dataset/images/, and their label rows to dataset/labels.csv. The
next image of a few large categories goes to fixtures/queries/ as a sample
query that is not in the demo catalogue. Standard library only.
"""

import argparse
import csv
import shutil
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUERY_CATEGORIES = ["Shirts", "Casual Shoes", "Watches", "Handbags", "Kurtas"]


def image_id(row):
    return int(Path(row["file"]).stem)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--per-category", type=int, default=30)
    parser.add_argument("--min-category", type=int, default=20)
    args = parser.parse_args()

    with open(args.source / "labels.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        rows = list(reader)

    by_category = defaultdict(list)
    for row in rows:
        by_category[row["articleType"]].append(row)

    chosen, queries = [], []
    for category, members in sorted(by_category.items()):
        if len(members) < args.min_category:
            continue
        members.sort(key=image_id)
        chosen.extend(members[: args.per_category])
        if category in QUERY_CATEGORIES and len(members) > args.per_category:
            queries.append(members[args.per_category])

    images = HERE / "images"
    if images.exists():
        shutil.rmtree(images)
    images.mkdir()
    chosen.sort(key=image_id)
    for row in chosen:
        shutil.copyfile(args.source / row["file"], HERE / row["file"])
    with open(HERE / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(chosen)

    query_dir = HERE.parent / "fixtures" / "queries"
    query_dir.mkdir(parents=True, exist_ok=True)
    for row in queries:
        name = row["articleType"].lower().replace(" ", "-") + ".jpg"
        shutil.copyfile(args.source / row["file"], query_dir / name)
        print(f"query {name}: {row['file']} ({row['productDisplayName']})")

    categories = len({row["articleType"] for row in chosen})
    print(f"copied {len(chosen)} images in {categories} categories", file=sys.stderr)


if __name__ == "__main__":
    main()
