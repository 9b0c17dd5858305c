// Placeholder: the NetSuite simulator lands here (docs/netsuite.md).
