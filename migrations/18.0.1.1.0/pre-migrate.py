"""sale.order.store_stages became a JSON list of stage codes (it was a comma-separated text):
PostgreSQL cannot cast the old text to jsonb by itself, so the column is converted here,
before the ORM updates the schema."""


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """
        SELECT data_type FROM information_schema.columns
         WHERE table_name = 'sale_order' AND column_name = 'store_stages'
        """
    )
    row = cr.fetchone()
    if not row or row[0] == "jsonb":
        return
    cr.execute(
        """
        ALTER TABLE sale_order ALTER COLUMN store_stages TYPE jsonb
        USING CASE WHEN store_stages IS NULL OR store_stages = '' THEN NULL
                   ELSE to_jsonb(string_to_array(store_stages, ',')) END
        """
    )
