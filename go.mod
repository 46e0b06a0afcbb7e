module github.com/facebatch/facebatch

go 1.26

require (
	github.com/galeone/tensorflow/tensorflow/go v0.0.0-20221023090153-6b7fa0680c3e
	github.com/galeone/tfgo v0.0.0-20230715013254-16113111dc99
)

require google.golang.org/protobuf v1.28.1 // indirect
