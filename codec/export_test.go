package codec

// ProtoJSONValid is protoJSONValid, for the black-box tests.
var ProtoJSONValid = protoJSONValid
