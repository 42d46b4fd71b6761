"""The association linkage endpoint (行业协会联动): industry associations link in here over mutual
TLS. It keeps no records of its own (no store, no migrations): who an association is comes from
the registry's record of its certificate, what it sees from the registry and the complaints
service asked on its behalf (as the association, so each of them scopes the answer), and the
disciplinary measures it reports go to the association-discipline workflow."""
