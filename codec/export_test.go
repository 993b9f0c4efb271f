package codec

// ProtoJSONValid is protoJSONValid, for the black-box tests.
var ProtoJSONValid = protoJSONValid

// ProtoJSONDecode is protoJSONDecode, for the black-box tests.
var ProtoJSONDecode = protoJSONDecode

// ProtoJSONAppend is protoJSONAppend, for the black-box tests.
var ProtoJSONAppend = protoJSONAppend

// CheckText is checkText, for the black-box tests.
var CheckText = checkText

// SchemaValid is schemaValid, for the black-box tests.
var SchemaValid = schemaValid

// DecodeAny is decodeAny, for the black-box tests.
var DecodeAny = decodeAny

// DecodeText is decodeText, for the black-box tests.
var DecodeText = decodeText
