package codec

// ProtoJSONValid is protoJSONValid, for the black-box tests.
var ProtoJSONValid = protoJSONValid

// ProtoJSONDecode is protoJSONDecode, for the black-box tests.
var ProtoJSONDecode = protoJSONDecode

// ProtoJSONAppend is protoJSONAppend, for the black-box tests.
var ProtoJSONAppend = protoJSONAppend

// CheckText is checkText, for the black-box tests.
var CheckText = checkText
