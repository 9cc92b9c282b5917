"""The product catalogue: its table (`table`), an import's rows checked (`rows`) and loaded
(`load`, through the same streamed reader and chunked upsert as contacts), and the words of
its text (`text`). Events name products by sku in `properties.sku`."""
