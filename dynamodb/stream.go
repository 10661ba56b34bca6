package dynamodb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventdesk/eventdesk"
)

// EventFromImage decodes the NEW_IMAGE of an events-table stream record,
// as DynamoDB JSON (`{"stream":{"S":"…"},"version":{"N":"1"},…}`, the
// form Lambda delivers). ok is false for items that are not events (stream
// heads, idempotency keys, event ids), which a publisher skips; err is set
// for an event item that cannot be decoded (a poison record).
func EventFromImage(image []byte) (e eventdesk.Event, ok bool, err error) {
	item, err := decodeItemJSON(image)
	if err != nil {
		return e, false, fmt.Errorf("dynamodb: stream image: %w", err)
	}
	if getStr(item, attrKind) != kindEvent {
		return e, false, nil
	}
	e, err = itemEvent(item)
	if err != nil {
		return e, false, fmt.Errorf("dynamodb: stream image: %w", err)
	}
	return e, true, nil
}

// decodeItemJSON decodes an item in DynamoDB JSON.
func decodeItemJSON(b []byte) (map[string]types.AttributeValue, error) {
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("image is null")
	}
	item := make(map[string]types.AttributeValue, len(raw))
	for name, v := range raw {
		av, err := decodeAttributeJSON(v, 0)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
		item[name] = av
	}
	return item, nil
}

// decodeAttributeJSON decodes one attribute value in DynamoDB JSON: an
// object with exactly one type key.
func decodeAttributeJSON(b json.RawMessage, depth int) (types.AttributeValue, error) {
	if depth > 32 {
		return nil, fmt.Errorf("nested too deeply")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("want exactly one type key, got %d", len(m))
	}
	for typ, v := range m {
		return decodeTyped(typ, v, depth)
	}
	return nil, fmt.Errorf("empty attribute value")
}

// decodeTyped decodes the value of one type key of DynamoDB JSON.
func decodeTyped(typ string, v json.RawMessage, depth int) (types.AttributeValue, error) {
	switch typ {
	case "S":
		var s string
		err := json.Unmarshal(v, &s)
		return &types.AttributeValueMemberS{Value: s}, err
	case "N":
		var s string
		err := json.Unmarshal(v, &s)
		return &types.AttributeValueMemberN{Value: s}, err
	case "B":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		bs, err := base64.StdEncoding.DecodeString(s)
		return &types.AttributeValueMemberB{Value: bs}, err
	case "BOOL":
		var x bool
		err := json.Unmarshal(v, &x)
		return &types.AttributeValueMemberBOOL{Value: x}, err
	case "NULL":
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case "SS", "NS":
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return nil, err
		}
		if typ == "NS" {
			return &types.AttributeValueMemberNS{Value: ss}, nil
		}
		return &types.AttributeValueMemberSS{Value: ss}, nil
	case "BS":
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return nil, err
		}
		out := make([][]byte, len(ss))
		for i, s := range ss {
			var err error
			if out[i], err = base64.StdEncoding.DecodeString(s); err != nil {
				return nil, err
			}
		}
		return &types.AttributeValueMemberBS{Value: out}, nil
	case "L":
		var l []json.RawMessage
		if err := json.Unmarshal(v, &l); err != nil {
			return nil, err
		}
		out := make([]types.AttributeValue, len(l))
		for i, x := range l {
			var err error
			if out[i], err = decodeAttributeJSON(x, depth+1); err != nil {
				return nil, err
			}
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case "M":
		var mm map[string]json.RawMessage
		if err := json.Unmarshal(v, &mm); err != nil {
			return nil, err
		}
		out := make(map[string]types.AttributeValue, len(mm))
		for k, x := range mm {
			var err error
			if out[k], err = decodeAttributeJSON(x, depth+1); err != nil {
				return nil, err
			}
		}
		return &types.AttributeValueMemberM{Value: out}, nil
	default:
		return nil, fmt.Errorf("unknown attribute type %q", typ)
	}
}
