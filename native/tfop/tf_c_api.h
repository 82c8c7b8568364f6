// The few types and function signatures of TensorFlow's stable C API that the
// TF-op glue uses, declared by hand (no TensorFlow headers at build time; the
// functions are resolved at run time with dlsym). They match
// tensorflow/c/{c_api,ops,kernels,tf_tensor,tf_status,tf_buffer,tf_datatype}.h
// of TensorFlow 2.x: these parts of the C API have been stable since 2.2.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

// Opaque handles.
typedef struct TF_Status TF_Status;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_Graph TF_Graph;
typedef struct TF_OpDefinitionBuilder TF_OpDefinitionBuilder;
typedef struct TF_ShapeInferenceContext TF_ShapeInferenceContext;
typedef struct TF_ShapeHandle TF_ShapeHandle;
typedef struct TF_KernelBuilder TF_KernelBuilder;
typedef struct TF_OpKernelConstruction TF_OpKernelConstruction;
typedef struct TF_OpKernelContext TF_OpKernelContext;

// tf_buffer.h
typedef struct TF_Buffer {
  const void* data;
  size_t length;
  void (*data_deallocator)(void* data, size_t length);
} TF_Buffer;

// tf_datatype.h (an enum of int size); only float is used.
typedef int TF_DataType;
constexpr TF_DataType TF_FLOAT = 1;

// tf_status.h / tsl_status.h (an enum of int size).
typedef int TF_Code;
constexpr TF_Code TF_OK = 0;
constexpr TF_Code TF_INVALID_ARGUMENT = 3;
constexpr TF_Code TF_RESOURCE_EXHAUSTED = 8;
constexpr TF_Code TF_INTERNAL = 13;

}  // extern "C"

namespace arelu_tfop {

// One pointer per function, filled by the resolver; every one is checked
// before the first call.
struct TfApi {
  // tf_status.h
  TF_Status* (*NewStatus)(void);
  void (*DeleteStatus)(TF_Status*);
  void (*SetStatus)(TF_Status*, TF_Code, const char*);
  TF_Code (*GetCode)(const TF_Status*);
  const char* (*Message)(const TF_Status*);
  // tf_buffer.h
  TF_Buffer* (*NewBuffer)(void);
  void (*DeleteBuffer)(TF_Buffer*);
  // c_api.h: registry lookups
  TF_Graph* (*NewGraph)(void);
  void (*DeleteGraph)(TF_Graph*);
  void (*GraphGetOpDef)(TF_Graph*, const char* op_name, TF_Buffer* output_op_def, TF_Status*);
  TF_Buffer* (*GetRegisteredKernelsForOp)(const char* name, TF_Status*);
  // ops.h
  TF_OpDefinitionBuilder* (*NewOpDefinitionBuilder)(const char* op_name);
  void (*OpDefinitionBuilderAddInput)(TF_OpDefinitionBuilder*, const char* input_spec);
  void (*OpDefinitionBuilderAddOutput)(TF_OpDefinitionBuilder*, const char* output_spec);
  void (*OpDefinitionBuilderSetShapeInferenceFunction)(
      TF_OpDefinitionBuilder*, void (*fn)(TF_ShapeInferenceContext*, TF_Status*));
  void (*RegisterOpDefinition)(TF_OpDefinitionBuilder*, TF_Status*);
  void (*DeleteOpDefinitionBuilder)(TF_OpDefinitionBuilder*);
  TF_ShapeHandle* (*NewShapeHandle)(void);
  void (*DeleteShapeHandle)(TF_ShapeHandle*);
  void (*ShapeInferenceContextGetInput)(TF_ShapeInferenceContext*, int i, TF_ShapeHandle*, TF_Status*);
  void (*ShapeInferenceContextSetOutput)(TF_ShapeInferenceContext*, int i, TF_ShapeHandle*, TF_Status*);
  // kernels.h
  TF_KernelBuilder* (*NewKernelBuilder)(const char* op_name, const char* device_name,
                                        void* (*create_func)(TF_OpKernelConstruction*),
                                        void (*compute_func)(void*, TF_OpKernelContext*),
                                        void (*delete_func)(void*));
  void (*RegisterKernelBuilder)(const char* kernel_name, TF_KernelBuilder*, TF_Status*);
  void (*DeleteKernelBuilder)(TF_KernelBuilder*);
  int (*NumInputs)(TF_OpKernelContext*);
  void (*GetInput)(TF_OpKernelContext*, int i, TF_Tensor** tensor, TF_Status*);
  TF_Tensor* (*AllocateOutput)(TF_OpKernelContext*, int index, TF_DataType dtype,
                               const int64_t* dims, int num_dims, size_t len, TF_Status*);
  void (*OpKernelContext_Failure)(TF_OpKernelContext*, TF_Status*);
  // tf_tensor.h
  void (*DeleteTensor)(TF_Tensor*);
  TF_DataType (*TensorType)(const TF_Tensor*);
  int (*NumDims)(const TF_Tensor*);
  int64_t (*Dim)(const TF_Tensor*, int dim_index);
  void* (*TensorData)(const TF_Tensor*);
  int64_t (*TensorElementCount)(const TF_Tensor*);
};

// The C names of TfApi's members, in member order (the resolver walks both).
#define ARELU_TF_API_SYMBOLS(X)                                                              \
  X(NewStatus) X(DeleteStatus) X(SetStatus) X(GetCode) X(Message) X(NewBuffer) X(DeleteBuffer) \
  X(NewGraph) X(DeleteGraph) X(GraphGetOpDef) X(GetRegisteredKernelsForOp)                     \
  X(NewOpDefinitionBuilder) X(OpDefinitionBuilderAddInput) X(OpDefinitionBuilderAddOutput)     \
  X(OpDefinitionBuilderSetShapeInferenceFunction) X(RegisterOpDefinition)                      \
  X(DeleteOpDefinitionBuilder) X(NewShapeHandle) X(DeleteShapeHandle)                          \
  X(ShapeInferenceContextGetInput) X(ShapeInferenceContextSetOutput) X(NewKernelBuilder)       \
  X(RegisterKernelBuilder) X(DeleteKernelBuilder) X(NumInputs) X(GetInput) X(AllocateOutput)   \
  X(OpKernelContext_Failure) X(DeleteTensor) X(TensorType) X(NumDims) X(Dim) X(TensorData)     \
  X(TensorElementCount)

}  // namespace arelu_tfop
