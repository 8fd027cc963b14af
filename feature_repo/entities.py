"""The entities features are keyed by."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A shopper with orders (order-line customer id, as text).",
)

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.STRING,
    description="A clickstream user (event user id, as text).",
)
