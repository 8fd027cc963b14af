"""Column layouts of the raw inputs the staging models read (see the dbt sources)."""

# UCI Online Retail order lines, with a header row.
ONLINE_RETAIL_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]

# Taobao UserBehavior events, without a header row.
TAOBAO_COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "ts"]
