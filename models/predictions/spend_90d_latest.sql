{{ cartcast_latest_predictions(ref('spend_90d'), 'customer_id', 'spend_90d') }}
