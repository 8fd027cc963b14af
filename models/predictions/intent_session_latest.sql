{{ cartcast_latest_predictions(ref('intent_session'), 'user_id', 'intent_session') }}
