"""Where members come from besides the desired file's own list: team files, HR exports, LDAP
directory groups, SCIM groups, and sources other packages provide (entry point group
`ideogram_org.sources`). Each reads, and gives back people; none decides anything."""
