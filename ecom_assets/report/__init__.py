"""The technical report: figures, tables and a business reading of every stage, from a materialized lake."""
