"""The entities features are keyed by."""

from feast import Entity, ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A shopper with orders (order-line customer id, as text).",
)

# The whole catalogue as one entity: the key is always 'all', so Feast serves the shop's best
# sellers of a snapshot beside any customer's rows (entity rows carry both keys).
catalogue = Entity(
    name="catalogue",
    join_keys=["catalogue_id"],
    value_type=ValueType.STRING,
    description="The whole catalogue (one key, 'all'): shop-wide features such as best sellers.",
)

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.STRING,
    description="A clickstream user (event user id, as text).",
)
