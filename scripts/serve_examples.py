"""Write the README's ``ecom serve`` examples: three curl commands and what a real server answered.

    python scripts/serve_examples.py --lake /path/to/lake [--user 123] [--product 456]

Starts ``ecom serve`` on the lake, asks for a user's recommendations (the first user of ``hybrid_recs``
with a content reason, unless ``--user``), the products similar to that user's first recommendation
(unless ``--product``) and the user's segment, and replaces the text between the README's
``serve-examples`` markers with the commands and the answers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pyarrow.dataset as ds
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ecom_assets.shop_api.launch import start_server, wait_until  # noqa: E402

README = REPO / "README.md"
START, END = "<!-- serve-examples:start -->", "<!-- serve-examples:end -->"


def candidate_users(lake: Path, count: int = 200) -> list[int]:
    """The first users of ``hybrid_recs`` (a few row groups, not the whole table)."""
    dataset = ds.dataset(str(lake / "processed" / "hybrid_recs"), format="parquet")
    users: list[int] = []
    for batch in dataset.to_batches(columns=["user_id"]):
        users.extend(u for u in dict.fromkeys(batch.column(0).to_pylist()) if u not in users)
        if len(users) >= count:
            break
    return users[:count]


def block(command: str, answer: dict, note: str) -> str:
    """One example: what it shows, the command and the answer, indented for the README's list item."""
    body = json.dumps(answer, indent=2, ensure_ascii=False)
    lines = [f"  {note}", "", "  ```console", f"  $ {command}"] + [f"  {line}" for line in body.splitlines()] + ["  ```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--user", type=int)
    parser.add_argument("--product", type=int)
    parser.add_argument("--note", default="", help="what the lake is (printed above the examples)")
    args = parser.parse_args()
    server, url = start_server(args.lake)
    try:
        wait_until(url, server)
        user = args.user
        if user is None:
            for candidate in candidate_users(args.lake):
                answer = requests.get(f"{url}/users/{candidate}/recommendations", params={"n": 3}, timeout=30).json()
                kinds = {item["reason"]["kind"] for item in answer["items"]}
                if "content" in kinds and len(kinds) > 1:
                    user = candidate
                    break
            else:
                user = candidate_users(args.lake, 1)[0]
        recs = requests.get(f"{url}/users/{user}/recommendations", params={"n": 3}, timeout=30).json()
        product = args.product or recs["items"][0]["product_id"]
        similar = requests.get(f"{url}/products/{product}/similar", params={"n": 3}, timeout=30).json()
        segment = requests.get(f"{url}/users/{user}/segment", timeout=30).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    local = "http://127.0.0.1:8100"
    text = "\n".join([
        f"  Real answers of `ecom serve` {args.note}:".rstrip(), "",
        block(f"curl -s '{local}/users/{user}/recommendations?n=3'", recs,
              "A user's top 3, each with its main reason, the blend's components and their weighted parts:"),
        block(f"curl -s '{local}/products/{product}/similar?n=3'", similar,
              "What goes next to a product (content similarity: category, brand, price band):"),
        block(f"curl -s '{local}/users/{user}/segment'", segment, "The user's segment and its profile:"),
    ])
    readme = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    README.write_text(pattern.sub(lambda _: f"{START}\n{text}\n  {END}", readme), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
