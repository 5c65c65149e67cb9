"""The shop's pricing rules as data: shipping zones and rates, tax rates, promotions."""
