{{ cartcast_latest_predictions(ref('churn_90d'), 'customer_id', 'churn_90d') }}
