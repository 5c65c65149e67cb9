from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from emporium.contracts.catalog import ProductCreated, ShortLine, StockReservationRejected
from emporium.contracts.orders import OrderLine, OrderPlaced


def test_type_names_carry_producer_event_and_version() -> None:
    assert OrderPlaced.type_name() == "orders.OrderPlaced.v1"
    assert StockReservationRejected.type_name() == "catalog.StockReservationRejected.v1"


def test_consumers_ignore_fields_they_do_not_know() -> None:
    product_id = uuid.uuid4()
    data = ProductCreated.model_validate(
        {
            "product_id": str(product_id),
            "sku": "SKU-1",
            "name": "Mug",
            "price_amount": 1299,
            "currency": "EUR",
            "colour_added_later": "blue",
        }
    )
    assert data.product_id == product_id
    assert not hasattr(data, "colour_added_later")


def test_events_reject_bad_data() -> None:
    with pytest.raises(ValidationError) as error:
        OrderPlaced.model_validate(
            {
                "order_id": "not-a-uuid",
                "customer_id": str(uuid.uuid4()),
                "lines": [
                    {"product_id": str(uuid.uuid4()), "sku": "A", "quantity": 0, "unit_amount": 1}
                ],
                "total_amount": 1,
                "currency": "EURO",
            }
        )
    fields = {".".join(str(p) for p in e["loc"]) for e in error.value.errors()}
    assert fields == {"order_id", "lines.0.quantity", "currency"}


def test_nested_models_round_trip_through_json() -> None:
    rejected = StockReservationRejected(
        order_id=uuid.uuid4(),
        short_lines=[ShortLine(product_id=uuid.uuid4(), requested=3, available=1)],
    )
    again = StockReservationRejected.model_validate_json(rejected.model_dump_json())
    assert again == rejected
    line = OrderLine(product_id=uuid.uuid4(), sku="A", quantity=2, unit_amount=100)
    assert OrderLine.model_validate(line.model_dump(mode="json")) == line
