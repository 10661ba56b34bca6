package dynamodb

// Exported for tests: the read table's indexes (name → partition and sort
// key attributes) and the key attributes of the tables.
var (
	IndexKeys = indexKeys
	EventsKey = [2]string{attrStream, attrVersion}
	PairKey   = [2]string{attrPK, attrSK}
	TTLAttr   = attrTTL
)
