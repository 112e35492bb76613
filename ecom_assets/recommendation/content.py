"""Content-based similarity: TF-IDF over category levels, brand and price band; cosine; top-N per product.

Scaling to the ~190 k products of the full catalogue on 2 cores without an all-pairs join:
products with the same tokens have the same vector, so similarities are computed between distinct
token sets ("signatures", far fewer than products), and candidate pairs come only from tokens shared
by at most ``BLOCKING_TOKEN_CAP`` signatures (an inverted index with frequent tokens left out of the
candidate search; they still count in the cosine). Each product then takes its neighbours from the
most similar signatures, most popular products first.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

NEIGHBOURS = 20
PRICE_BANDS = 5
BLOCKING_TOKEN_CAP = 2000


def product_attributes(events: DataFrame) -> DataFrame:
    """(product_id, category_id, category_code, brand, price): one row per product seen in ``events``.

    Category code and brand are the most recent non-null values; price is the mean observed price.
    """
    return events.groupBy("product_id").agg(
        F.max_by("category_id", "event_time").alias("category_id"),
        F.max_by("category_code", F.when(F.col("category_code").isNotNull(), F.col("event_time"))).alias(
            "category_code"),
        F.max_by("brand", F.when(F.col("brand").isNotNull(), F.col("event_time"))).alias("brand"),
        F.avg("price").alias("price"),
    )


def price_bands(attributes: DataFrame, bands: int = PRICE_BANDS) -> DataFrame:
    """``attributes`` plus ``price_band`` 1..``bands``: the product's price quantile within its category id."""
    order = Window.partitionBy("category_id").orderBy("price")
    band = F.floor(F.percent_rank().over(order) * bands) + 1
    return attributes.withColumn("price_band", F.least(band, F.lit(bands)).cast("int"))


def product_tokens(banded: DataFrame) -> DataFrame:
    """(product_id, tokens): every category_code level, the category id, brand and price band as tokens.

    Levels are cumulative (``electronics``, ``electronics.audio``, ``electronics.audio.headphone``) so
    products share more tokens the deeper their categories agree; the price band is scoped to the
    category id because "cheap" only means something within a category.
    """
    levels = F.split(F.col("category_code"), r"\.")
    prefixes = F.transform(
        F.sequence(F.lit(1), F.coalesce(F.size(levels), F.lit(0))),
        lambda n: F.concat(F.lit("code:"), F.array_join(F.slice(levels, 1, n), ".")),
    )
    tokens = F.concat(
        F.when(F.col("category_code").isNotNull(), prefixes).otherwise(F.array().cast("array<string>")),
        F.array(
            F.concat(F.lit("cat:"), F.col("category_id").cast("string")),
            F.concat(F.lit("band:"), F.col("category_id").cast("string"), F.lit(":"), F.col("price_band").cast("string")),
        ),
        F.when(F.col("brand").isNotNull(), F.array(F.concat(F.lit("brand:"), F.col("brand")))).otherwise(
            F.array().cast("array<string>")),
    )
    return banded.select("product_id", F.array_sort(F.array_distinct(tokens)).alias("tokens"))


def signature_vectors(tokens: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(signatures, members): L2-normalised TF-IDF vectors per distinct token set, and product -> signature.

    ``signatures`` has (signature, weights: map<token, weight>); IDF is computed over products,
    smoothed as ``ln((1 + n) / (1 + df)) + 1``.
    """
    with_sig = tokens.withColumn("signature", F.xxhash64(F.array_join("tokens", "|")))
    members = with_sig.select("product_id", "signature")
    products = with_sig.count()
    df = with_sig.select(F.explode("tokens").alias("token")).groupBy("token").agg(F.count(F.lit(1)).alias("df"))
    idf = df.select("token", (F.log((1.0 + products) / (1.0 + F.col("df"))) + 1.0).alias("idf"))
    distinct = with_sig.select("signature", "tokens").dropDuplicates(["signature"])
    exploded = distinct.select("signature", F.explode("tokens").alias("token")).join(F.broadcast(idf), "token")
    norms = Window.partitionBy("signature")
    weighted = exploded.withColumn("weight", F.col("idf") / F.sqrt(F.sum(F.col("idf") ** 2).over(norms)))
    signatures = weighted.groupBy("signature").agg(F.map_from_entries(F.collect_list(F.struct("token", "weight"))).alias("weights"))
    return signatures, members


def _cosine(left: Column, right: Column) -> Column:
    """Dot product of two normalised sparse vectors held as maps."""
    return F.aggregate(
        F.map_keys(left), F.lit(0.0),
        lambda acc, token: acc + F.element_at(left, token) * F.coalesce(F.try_element_at(right, token), F.lit(0.0)),
    )


def signature_pairs(signatures: DataFrame, token_cap: int = BLOCKING_TOKEN_CAP, keep: int = NEIGHBOURS + 1) -> DataFrame:
    """(signature, other, similarity): the ``keep`` most similar signatures of each one, itself included."""
    postings = signatures.select("signature", F.explode(F.map_keys("weights")).alias("token"))
    blocking = postings.groupBy("token").agg(F.count(F.lit(1)).alias("df")).where(F.col("df") <= token_cap)
    usable = postings.join(blocking.select("token"), "token")
    candidates = (
        usable.alias("a").join(usable.alias("b"), "token")
        .select(F.col("a.signature").alias("signature"), F.col("b.signature").alias("other"))
        .distinct()
    )
    scored = (
        candidates.join(signatures.select("signature", F.col("weights").alias("left")), "signature")
        .join(signatures.select(F.col("signature").alias("other"), F.col("weights").alias("right")), "other")
        .select("signature", "other", _cosine(F.col("left"), F.col("right")).alias("similarity"))
    )
    order = Window.partitionBy("signature").orderBy(F.desc("similarity"), F.asc("other"))
    return scored.withColumn("n", F.row_number().over(order)).where(F.col("n") <= keep).drop("n")


def similar_products(tokens: DataFrame, popularity: DataFrame, neighbours: int = NEIGHBOURS,
                     token_cap: int = BLOCKING_TOKEN_CAP) -> DataFrame:
    """(product_id, similar_product_id, similarity, rank): each product's ``neighbours`` most similar products.

    Ties in similarity (products with the same tokens) go to the more popular product (``popularity``:
    product_id, popularity; missing means 0), then the smaller id, so the result is deterministic.
    """
    signatures, members = signature_vectors(tokens)
    pairs = signature_pairs(signatures, token_cap, neighbours + 1)
    ranked_members = members.join(popularity, "product_id", "left").withColumn(
        "popularity", F.coalesce(F.col("popularity"), F.lit(0.0)))
    by_popularity = Window.partitionBy("signature").orderBy(F.desc("popularity"), F.asc("product_id"))
    top_members = ranked_members.withColumn("n", F.row_number().over(by_popularity)).where(
        F.col("n") <= neighbours + 1)
    candidates = pairs.join(
        top_members.select(F.col("signature").alias("other"), F.col("product_id").alias("similar_product_id"),
                           "popularity"), "other")
    best = Window.partitionBy("signature").orderBy(F.desc("similarity"), F.desc("popularity"),
                                                   F.asc("similar_product_id"))
    per_signature = candidates.withColumn("n", F.row_number().over(best)).where(F.col("n") <= neighbours + 1)
    expanded = members.join(per_signature, "signature").where(F.col("product_id") != F.col("similar_product_id"))
    final = Window.partitionBy("product_id").orderBy("n")
    return expanded.withColumn("rank", F.row_number().over(final)).where(F.col("rank") <= neighbours).select(
        "product_id", "similar_product_id", F.round("similarity", 6).alias("similarity"), "rank")


def isolated_products(tokens: DataFrame) -> DataFrame:
    """(product_id): products that share no token with any other product, so no cosine can be above 0."""
    postings = tokens.select("product_id", F.explode("tokens").alias("token"))
    shared = postings.groupBy("token").agg(F.count(F.lit(1)).alias("df"))
    return postings.join(shared, "token").groupBy("product_id").agg(F.max("df").alias("best")).where(
        F.col("best") <= 1).select("product_id")
