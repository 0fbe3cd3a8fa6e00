"""The region registry: units (市/区/街道/社区), police stations, 政法 departments, populations."""
