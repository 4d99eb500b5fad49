"""The pipeline console: server-rendered pages over the service's store and runner (``routes``),
forms generated from connectors' JSON schemas (``forms``), and what the pages show (``views``)."""
