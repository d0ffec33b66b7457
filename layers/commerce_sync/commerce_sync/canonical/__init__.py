"""The canonical model every platform adapter produces and every processing function consumes:
entities, events, money, e-mail addresses, entity ids and versions, and the errors of unusable input."""
