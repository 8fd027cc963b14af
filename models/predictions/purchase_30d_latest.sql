{{ cartcast_latest_predictions(ref('purchase_30d'), 'customer_id', 'purchase_30d') }}
